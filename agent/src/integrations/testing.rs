//! Test helpers of every integration: one `integrations.<name>` section loaded from YAML text
//! as the agent loads it (positions, unknown keys, every problem at once), without the rest of
//! the agent config.

use crate::integrations::Section;
use dozor_metrics::sample::Sample;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

static CPU: Mutex<()> = Mutex::new(());

/// Taken by tests that compare timings with another process's clock (a live capture against a
/// server's own log) and by the CPU-bound property tests, so that on a 2-core machine the one
/// never delays the other's server by milliseconds.
pub fn cpu() -> MutexGuard<'static, ()> {
    CPU.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Deserialize)]
#[serde(bound = "C: DeserializeOwned")]
struct Root<C> {
    integrations: BTreeMap<String, C>,
}

impl<C: Section> dozor_config::Validate for Root<C> {
    fn validate(&self, v: &mut dozor_config::Validator) {
        for (name, section) in &self.integrations {
            section.validate(&mut v.at(format!("integrations.{name}")));
        }
    }
}

/// Loads `text` (`integrations:` with one section) as `agent.yaml`; the error is every problem,
/// one per line.
pub fn load<C: Section + DeserializeOwned>(text: &str) -> Result<C, String> {
    dozor_config::load_str::<Root<C>>("agent.yaml", text, &|_| None)
        .map(|r| r.integrations.into_values().next().expect("one section"))
        .map_err(|e| e.to_string())
}

/// The sample of `metric` whose attribute values are exactly `attributes`, in order.
pub fn sample<'a>(samples: &'a [Sample], metric: &str, attributes: &[&str]) -> Option<&'a Sample> {
    samples.iter().find(|s| {
        s.metric.name == metric
            && s.attributes.len() == attributes.len()
            && s.attributes
                .iter()
                .zip(attributes)
                .all(|((_, v), w)| v == w)
    })
}

/// The value of `metric` whose attribute values are exactly `attributes`, in order.
pub fn value(samples: &[Sample], metric: &str, attributes: &[&str]) -> Option<f64> {
    sample(samples, metric, attributes).map(|s| s.value)
}

/// The distribution of the histogram `metric` whose attribute values are exactly `attributes`.
pub fn histogram<'a>(
    samples: &'a [Sample],
    metric: &str,
    attributes: &[&str],
) -> Option<&'a dozor_metrics::sample::Buckets> {
    sample(samples, metric, attributes).and_then(|s| s.histogram.as_deref())
}

/// The value of `metric` whose attribute values after the first (the instance) are `rest`.
pub fn value_after_instance(samples: &[Sample], metric: &str, rest: &[&str]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.metric.name == metric
                && s.attributes.len() == rest.len() + 1
                && s.attributes[1..].iter().zip(rest).all(|((_, v), w)| v == w)
        })
        .map(|s| s.value)
}
