//! Tests of `Host::collect` as a whole: on the fixture trees of `agent/tests/fixtures` (a cgroup
//! v1 hybrid host like the machine they were taken from, and a cgroup v2 host), and on small
//! broken trees made on the fly.

mod errors;
mod v1;
mod v2;

use super::*;
use dozor_metrics::sample::Sample;
use std::path::PathBuf;

pub fn fixture(name: &str) -> Paths {
    let base = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    Paths {
        procfs: base.join("proc"),
        sysfs: base.join("sys"),
        rootfs: base.join("rootfs"),
    }
}

pub fn config(services: &[&str], containers: &[(&str, &str)]) -> Config {
    let mut config = Config::default();
    config.cgroups.services = services.iter().map(|s| s.to_string()).collect();
    config.cgroups.containers = containers
        .iter()
        .map(|(name, path)| CgroupTarget {
            name: name.to_string(),
            path: path.to_string(),
        })
        .collect();
    config
}

/// The value of the one sample of `metric` whose attribute values start with `attrs`.
pub fn value(samples: &[Sample], metric: &str, attrs: &[&str]) -> Option<f64> {
    let found: Vec<f64> = samples
        .iter()
        .filter(|s| s.metric.name == metric)
        .filter(|s| {
            attrs
                .iter()
                .zip(&s.attributes)
                .all(|(want, (_, got))| want == got)
        })
        .map(|s| s.value)
        .collect();
    assert!(
        found.len() <= 1,
        "{metric} {attrs:?} matches {} samples",
        found.len()
    );
    found.first().copied()
}

/// The distinct values of attribute `index` of `metric`.
pub fn labels(samples: &[Sample], metric: &str, index: usize) -> Vec<String> {
    let mut out: Vec<String> = samples
        .iter()
        .filter(|s| s.metric.name == metric)
        .map(|s| s.attributes[index].1.clone())
        .collect();
    out.dedup();
    out
}

pub fn run(host: &mut Host) -> Vec<Sample> {
    let mut recorder = Recorder::new();
    host.collect(&mut recorder)
        .expect("fixture collects cleanly");
    // The host's own metrics: the per-source success is the agent's (see errors.rs).
    let source_success = dozor_metrics::catalogue::agent::SCRAPE_SOURCE_SUCCESS.name;
    let mut samples = recorder.take();
    samples.retain(|s| s.metric.name != source_success);
    samples
}

/// A scratch tree under the temp directory, removed on drop.
pub struct Tree(PathBuf);

impl Tree {
    pub fn new(name: &str, files: &[(&str, &str)]) -> Tree {
        let root = std::env::temp_dir().join(format!("dozor-host-{name}-{}", std::process::id()));
        for (path, text) in files {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        Tree(root)
    }

    pub fn paths(&self) -> Paths {
        Paths {
            procfs: self.0.join("proc"),
            sysfs: self.0.join("sys"),
            rootfs: self.0.join("rootfs"),
        }
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The TCP and process walks run on the first two collections (the first primes CPU
/// counters) and then at most once per their `interval`; `0s` walks every time, and
/// `enabled: false` never.
#[test]
fn walks_follow_their_own_interval() {
    let every = |secs| WalkConfig {
        enabled: true,
        interval: Duration(std::time::Duration::from_secs(secs)),
    };
    let off = WalkConfig {
        enabled: false,
        ..WalkConfig::default()
    };
    for metric in ["system.network.connections", "dozor.host.processes"] {
        let walks = |walk: WalkConfig, runs: usize| -> usize {
            let config = match metric {
                "dozor.host.processes" => Config {
                    processes: walk,
                    ..Config::default()
                },
                _ => Config {
                    tcp: walk,
                    ..Config::default()
                },
            };
            let mut host = Host::new(&config, &fixture("host-v2"));
            (0..runs)
                .filter(|_| {
                    let mut r = Recorder::new();
                    let _ = host.collect(&mut r);
                    r.samples().iter().any(|s| s.metric.name == metric)
                })
                .count()
        };
        assert_eq!(walks(every(3600), 4), 2, "{metric}");
        assert_eq!(walks(every(0), 3), 3, "{metric}");
        assert_eq!(walks(off.clone(), 2), 0, "{metric}");
    }
}
