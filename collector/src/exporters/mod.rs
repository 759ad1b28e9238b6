//! Where the collected data goes: series to Prometheus (pull), log records to Elasticsearch,
//! received traces (optionally) to a tracing backend.

pub mod elasticsearch;
pub mod prometheus;
pub mod traces_otlp;
