//! The `probes` integration: active probes from this host to each configured target, by TCP
//! connect ([`tcp`]), ICMP echo ([`icmp`]), HTTP(S) ([`http`]) and DNS ([`dns`]), each target on
//! its own interval and timeout (one integration per target, `probes/<target>`).
//!
//! A kind of probe is a [`Probe`]: it runs once within a deadline, records what only it measures
//! (HTTP phases, ICMP round trips), and returns how long it took or why it failed. [`ProbeRun`]
//! records what every probe has: `dozor.probe.success`, `dozor.probe.duration` (only on success),
//! `dozor.probe.runs` and `dozor.probe.failures` by reason. A failed probe is the probe's
//! result, not the integration's failure: the run succeeds, and the reason is in the
//! `error.type` label and in the log (at `warn` when it changes, `debug` while it stays).
//!
//! The probes use only portable calls (std, socket2, rustls) except where a module says
//! otherwise, so a Windows build of the agent can run them (see `docs/windows.md`).

pub mod config;
pub mod dns;
pub mod http;
pub mod icmp;
pub mod resolve;
pub mod tcp;

#[cfg(test)]
mod tests;

pub use config::Config;

use super::{Integration, IntegrationError};
use dozor_metrics::catalogue::probes as m;
use dozor_metrics::sample::Recorder;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Why a probe failed: a short bounded word for the `error.type` label, and the detail for the
/// log. The words are listed in the catalogue's `probes` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Bounded reason: `resolve`, `refused`, `timeout`, `unreachable`, ...
    pub reason: &'static str,
    /// Human-readable detail, never a secret.
    pub message: String,
}

impl Failure {
    /// A failure for `reason` with its detail.
    pub fn new(reason: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            reason,
            message: message.into(),
        }
    }

    /// The deadline passed during `what` (`connect`, `tls handshake`, ...).
    pub fn timeout(what: &str) -> Failure {
        Failure::new("timeout", format!("no answer within the timeout ({what})"))
    }
}

/// One kind of probe, built from a target's configuration.
pub trait Probe: Send {
    /// `tcp`, `icmp`, `http`, `dns`: the `probe.kind` label.
    fn kind(&self) -> &'static str;

    /// Probes once, returning before `deadline`, and records the kind's own metrics under
    /// `target` (the `probe.target` label). Returns the probe's duration (see
    /// `dozor.probe.duration`), or why it failed.
    fn run(
        &mut self,
        target: &str,
        deadline: Instant,
        rec: &mut Recorder,
    ) -> Result<Duration, Failure>;
}

/// One target: its probe, and the failures counted since the agent started.
pub struct ProbeRun {
    /// `probes/<target>`.
    name: String,
    target: String,
    probe: Box<dyn Probe>,
    /// The probe's own budget: the run's timeout less a margin, so that it ends (and records
    /// a timeout of its own) before the scheduler gives up on the run.
    budget: Duration,
    runs: u64,
    failures: BTreeMap<&'static str, u64>,
    /// The reason of the last run, `None` after a success: what the log reports on changes.
    last: Option<&'static str>,
}

impl ProbeRun {
    /// The integration of `target`, whose runs may take `timeout`.
    pub fn new(target: &str, probe: Box<dyn Probe>, timeout: Duration) -> ProbeRun {
        ProbeRun {
            name: format!("probes/{target}"),
            target: target.to_string(),
            probe,
            budget: budget(timeout),
            runs: 0,
            failures: BTreeMap::new(),
            last: None,
        }
    }
}

/// The timeout less a tenth of it, at most half a second: Blackbox exporter's offset.
fn budget(timeout: Duration) -> Duration {
    timeout.saturating_sub((timeout / 10).min(Duration::from_millis(500)))
}

impl Integration for ProbeRun {
    fn name(&self) -> &str {
        &self.name
    }

    fn collect(&mut self, rec: &mut Recorder) -> Result<(), IntegrationError> {
        let deadline = Instant::now() + self.budget;
        let kind = self.probe.kind();
        let result = self.probe.run(&self.target, deadline, rec);
        self.runs += 1;
        let labels = [self.target.as_str(), kind];
        rec.record(&m::RUNS, self.runs as f64, &labels);
        match &result {
            Ok(took) => {
                rec.record(&m::SUCCESS, 1.0, &labels);
                rec.record(&m::DURATION, took.as_secs_f64(), &labels);
                if let Some(was) = self.last.take() {
                    tracing::info!(target = %self.target, kind, was, "Probe succeeds again.");
                }
            }
            Err(f) => {
                rec.record(&m::SUCCESS, 0.0, &labels);
                *self.failures.entry(f.reason).or_default() += 1;
                if self.last == Some(f.reason) {
                    tracing::debug!(target = %self.target, kind, reason = f.reason, error = %f.message, "Probe failed.");
                } else {
                    tracing::warn!(target = %self.target, kind, reason = f.reason, error = %f.message, "Probe failed.");
                }
                self.last = Some(f.reason);
            }
        }
        for (reason, n) in &self.failures {
            rec.record(&m::FAILURES, *n as f64, &[&self.target, kind, reason]);
        }
        Ok(())
    }
}

/// The time left until `deadline`, or the timeout failure of `what` when none is.
pub fn remaining(deadline: Instant, what: &str) -> Result<Duration, Failure> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(Failure::timeout(what))
    } else {
        Ok(left)
    }
}
