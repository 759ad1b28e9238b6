//! Where the collected data goes: series to Prometheus (pull), log records to Elasticsearch.

pub mod elasticsearch;
pub mod prometheus;
