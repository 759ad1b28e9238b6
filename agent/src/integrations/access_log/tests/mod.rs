//! Tests of the `access_log` integration, each against ground truth the test made itself: the
//! requests it sent to a real nginx (and nginx's own log for durations), or the lines its writer
//! wrote. [`format`]: the line formats on literal lines; [`follow`]: rotation, inode reuse,
//! partial, long and bad lines, restarts, through a writer; [`nginx`]: a real nginx;
//! [`config`]: configuration errors.

mod config;
mod follow;
mod format;
mod nginx;

use super::config::FormatConfig;
use super::{AccessLog, InstanceConfig};
use crate::integrations::Integration;
use dozor_metrics::sample::{Recorder, Sample};
use std::collections::BTreeMap;
use std::path::Path;

/// An instance following `path` from its beginning, service `shop` on 127.0.0.1:8080.
pub fn instance(name: &str, path: &Path, format: FormatConfig) -> InstanceConfig {
    InstanceConfig {
        name: name.into(),
        path: path.to_owned(),
        service: "shop".into(),
        format,
        server_address: Some("127.0.0.1".into()),
        server_port: Some(8080),
        read_from: super::tail::ReadFrom::Beginning,
        ..InstanceConfig::default()
    }
}

/// The integration, saving its position under `state`.
pub fn start(config: &InstanceConfig, state: &Path) -> AccessLog {
    AccessLog::new(config, state, true).expect("building the integration")
}

/// One collection; a failure fails the test.
pub fn collect(a: &mut AccessLog) -> Vec<Sample> {
    let mut rec = Recorder::new();
    a.collect(&mut rec).expect("collect");
    rec.take()
}

/// `(method, route, status)` → (count, sum of seconds) of `http.server.request.duration`.
pub type Counts = BTreeMap<(String, String, u16), (u64, f64)>;

/// The duration histograms of `samples`.
pub fn durations(samples: &[Sample]) -> Counts {
    histograms(samples, "http.server.request.duration")
}

/// The histograms of `metric` in `samples` (count, sum).
pub fn histograms(samples: &[Sample], metric: &str) -> Counts {
    let mut out = Counts::new();
    for s in samples.iter().filter(|s| s.metric.name == metric) {
        let a = |k: &str| {
            s.attributes
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let h = s.histogram.as_ref().expect("a histogram");
        let key = (
            a("http.request.method"),
            a("http.route"),
            a("http.response.status_code").parse().unwrap_or(0),
        );
        out.insert(key, (h.count(), h.sum));
    }
    out
}

/// Adds what `b` counted to `a` (two runs of the integration, before and after a restart).
pub fn add(a: &mut Counts, b: &Counts) {
    for (k, (n, sum)) in b {
        let e = a.entry(k.clone()).or_default();
        e.0 += n;
        e.1 += sum;
    }
}

/// Asserts the same keys and counts, and sums within `tolerance` seconds.
pub fn assert_counts(got: &Counts, want: &Counts, tolerance: f64) {
    let keys = |c: &Counts| c.iter().map(|(k, v)| (k.clone(), v.0)).collect::<Vec<_>>();
    assert_eq!(keys(got), keys(want), "counts per method, route, status");
    for (k, (_, sum)) in want {
        let g = got[k].1;
        assert!(
            (g - sum).abs() <= tolerance,
            "{k:?}: duration sum {g} != {sum}"
        );
    }
}

/// The value of one of the integration's own series, after its instance.
pub fn own(samples: &[Sample], metric: &str, rest: &[&str]) -> f64 {
    crate::integrations::testing::value_after_instance(samples, metric, rest)
        .unwrap_or_else(|| panic!("no {metric}{rest:?}"))
}
