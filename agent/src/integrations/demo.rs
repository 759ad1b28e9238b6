//! Synthetic data with a known value, like Vector's `demo_logs` source: `series` counters
//! (`dozor.demo.runs{series="0"}` ...) that all hold the number of runs so far. For trying the
//! pipeline out without real sources, for load tests, and for end-to-end tests that need to
//! know exactly what the agent produced.

use super::{Context, IntegrationError, Scheduled, Section};
use dozor_config::{At, Duration};
use dozor_metrics::catalogue::demo;
use dozor_metrics::sample::Recorder;
use serde::Deserialize;

/// `integrations.demo`.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct Config {
    /// Off by default.
    pub enabled: bool,
    /// Time between runs; `agent.interval` when unset.
    pub interval: Option<Duration>,
    /// Longest a run may take; `agent.timeout` when unset.
    pub timeout: Option<Duration>,
    /// How many series every run produces (one data point each).
    pub series: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: false,
            interval: None,
            timeout: None,
            series: 100,
        }
    }
}

/// The largest `series` accepted.
pub const MAX_SERIES: u32 = 1_000_000;

impl Section for Config {
    fn validate(&self, at: &mut At<'_>) {
        at.positive_if_set("interval", self.interval);
        at.positive_if_set("timeout", self.timeout);
        if self.series == 0 || self.series > MAX_SERIES {
            at.error("series", format!("must be from 1 to {MAX_SERIES}"));
        }
    }

    fn build(&self, ctx: &Context) -> Vec<Scheduled> {
        if !self.enabled {
            return Vec::new();
        }
        let (interval, timeout) = ctx.schedule(self.interval, self.timeout);
        vec![Scheduled {
            integration: Box::new(Demo::new(self)),
            interval,
            timeout,
        }]
    }
}

/// The integration.
pub struct Demo {
    labels: Vec<String>,
    runs: u64,
}

impl Demo {
    /// A demo source with `series` series.
    pub fn new(config: &Config) -> Self {
        Demo {
            labels: (0..config.series).map(|i| i.to_string()).collect(),
            runs: 0,
        }
    }
}

impl super::Integration for Demo {
    fn name(&self) -> &str {
        "demo"
    }

    fn collect(&mut self, recorder: &mut Recorder) -> Result<(), IntegrationError> {
        self.runs += 1;
        for label in &self.labels {
            recorder.record(&demo::DEMO_RUNS, self.runs as f64, &[label]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::Integration;

    #[test]
    fn every_series_counts_the_runs() {
        let mut d = Demo::new(&Config {
            series: 3,
            ..Config::default()
        });
        for _ in 0..2 {
            let mut r = Recorder::new();
            d.collect(&mut r).unwrap();
            let values: Vec<(String, f64)> = r
                .take()
                .into_iter()
                .map(|s| (s.attributes[0].1.clone(), s.value))
                .collect();
            assert_eq!(values.len(), 3);
            assert!(values.iter().all(|(_, v)| *v == d.runs as f64));
        }
        assert_eq!(d.runs, 2);
    }
}
