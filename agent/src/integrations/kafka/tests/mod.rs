//! Tests against noida-db (a Kafka-protocol emulator, started per test by
//! `dozor_testkit::kafka`), with records produced and offsets committed by kafka-python: the
//! ground truth is what the test itself produced and committed.

mod cost;
mod errors;
mod lag;

use super::{InstanceConfig, Kafka};
use crate::integrations::{Integration, IntegrationError};
use dozor_metrics::sample::{Recorder, Sample};
use std::time::Duration;

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

/// An instance named `name` on `bootstrap`.
pub fn instance(name: &str, bootstrap: &str) -> InstanceConfig {
    InstanceConfig {
        name: name.into(),
        bootstrap_servers: vec![bootstrap.into()],
        ..InstanceConfig::default()
    }
}

/// One collection: its samples and its result.
pub fn collect(k: &mut Kafka) -> (Vec<Sample>, Result<(), IntegrationError>) {
    let mut r = Recorder::new();
    let result = k.collect(&mut r);
    (r.take(), result)
}

/// The integration for `config` with a 5 s timeout.
pub fn integration(config: &InstanceConfig) -> Kafka {
    Kafka::new(config, Duration::from_secs(5))
}
