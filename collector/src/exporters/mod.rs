//! Where the collected data goes: series to Prometheus (pull) and to remote_write endpoints
//! (push), log records to Elasticsearch, received traces (optionally) to a tracing backend.

pub mod elasticsearch;
pub mod prometheus;
pub mod remote_write;
pub mod traces_otlp;
