//! The pieces of the metric pipeline that the agent and the collector share.
//!
//! - [`catalogue`]: every metric dozor emits, declared once (name, instrument, unit, attributes,
//!   description, source). Code can only record a metric through its declaration.
//! - [`sample`]: what integrations record, and how a set of samples becomes an OTLP request.
//! - [`naming`]: the OpenTelemetry-to-Prometheus name and label rules.
//! - [`translate`]: OTLP resource metrics to Prometheus points, as the collector exposes them.
//! - [`exposition`]: the Prometheus text (0.0.4) and OpenMetrics 1.0 encoders.

pub mod catalogue;
pub mod exposition;
pub mod naming;
pub mod sample;
pub mod time;
pub mod translate;

pub use catalogue::{Instrument, MetricDef};
pub use opentelemetry_proto::tonic as otlp;
