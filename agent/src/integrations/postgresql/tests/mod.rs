//! Tests against real PostgreSQL servers: the shared one on 127.0.0.1:5432 (trust auth, user
//! `postgres`) for throughput, and clusters of their own (initdb on free ports in a temporary
//! directory) for replication, passwords and preloaded extensions, so the shared server is
//! never reconfigured.

use dozor_metrics::sample::Sample;

/// The value of `metric` with exactly these attribute values, if recorded.
pub fn value(samples: &[Sample], metric: &str, attributes: &[&str]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.metric.name == metric
                && s.attributes.len() == attributes.len()
                && s.attributes
                    .iter()
                    .zip(attributes)
                    .all(|((_, v), w)| v == w)
        })
        .map(|s| s.value)
}
