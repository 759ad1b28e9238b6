//! The integration registry: one line per integration.
//!
//! An integration reads one data source and records catalogue metrics into a [`Recorder`]. The
//! scheduler (`crate::scheduler`) runs each on its own interval and timeout, on a blocking thread,
//! records `dozor.agent.scrape.*` around every run, and keeps one failing or hanging integration
//! from affecting the others.

pub mod db;
pub mod demo;
pub mod flow;
pub mod host;
pub mod mysql;
pub mod postgresql;
pub mod sql;

use crate::config::Config;
use crate::export::logs::Outbox;
use dozor_metrics::sample::Recorder;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where file-system based integrations read from; injectable so fixture trees need no special
/// code paths (`--path.procfs`, `--path.sysfs`, `--path.rootfs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// procfs mount, `/proc` by default.
    pub procfs: PathBuf,
    /// sysfs mount, `/sys` by default.
    pub sysfs: PathBuf,
    /// Prefix for paths found in mount tables (statvfs of mount points), `/` by default.
    pub rootfs: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            procfs: "/proc".into(),
            sysfs: "/sys".into(),
            rootfs: "/".into(),
        }
    }
}

/// Why an integration run failed. `kind` becomes the `error.type` label: keep it a short,
/// bounded word (`io`, `parse`, `connect`, `auth`, `timeout`), never a message.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct IntegrationError {
    /// Bounded error class for the `error.type` label.
    pub kind: &'static str,
    /// Human-readable detail for the log line.
    pub message: String,
}

impl IntegrationError {
    /// An error of the given class.
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        IntegrationError {
            kind,
            message: message.into(),
        }
    }
}

impl From<std::io::Error> for IntegrationError {
    fn from(e: std::io::Error) -> Self {
        IntegrationError::new("io", e.to_string())
    }
}

/// One data source.
pub trait Integration: Send {
    /// Name used as the `integration` label and the scope name suffix.
    fn name(&self) -> &'static str;

    /// Reads the source once and records what it found. Blocking I/O is fine: it runs on a
    /// blocking thread under a timeout. Partial results may be recorded before an error.
    fn collect(&mut self, recorder: &mut Recorder) -> Result<(), IntegrationError>;

    /// True when some values are differences between two readings (CPU utilization);
    /// `collect --once` then reads twice within the call.
    fn needs_two_samples(&self) -> bool {
        false
    }
}

/// An enabled integration with its schedule.
pub struct Scheduled {
    /// The integration.
    pub integration: Box<dyn Integration>,
    /// Time between runs.
    pub interval: Duration,
    /// Longest a run may take before it is counted as a timeout.
    pub timeout: Duration,
}

/// Builds every integration the config enables. The registry: one line per integration.
/// Integrations that emit log records append them to `logs` (none without an exporter).
pub fn build(config: &Config, paths: &Paths, logs: Option<Arc<Outbox>>) -> Vec<Scheduled> {
    let defaults = &config.agent;
    let mut out = Vec::new();
    let host = &config.integrations.host;
    if host.enabled {
        out.push(Scheduled {
            integration: Box::new(host::Host::new(host, paths)),
            interval: host.interval.map_or(defaults.interval.0, |d| d.0),
            timeout: host.timeout.map_or(defaults.timeout.0, |d| d.0),
        });
    }
    let demo = &config.integrations.demo;
    if demo.enabled {
        out.push(Scheduled {
            integration: Box::new(demo::Demo::new(demo)),
            interval: demo.interval.map_or(defaults.interval.0, |d| d.0),
            timeout: demo.timeout.map_or(defaults.timeout.0, |d| d.0),
        });
    }
    out.extend(postgresql::build(
        &config.integrations.postgresql,
        defaults.interval.0,
        defaults.timeout.0,
    ));
    out.extend(mysql::build(
        &config.integrations.mysql,
        defaults.interval.0,
        defaults.timeout.0,
    ));
    out.extend(flow::build(
        &config.integrations.flow,
        defaults.interval.0,
        defaults.timeout.0,
        logs,
    ));
    out.extend(sql::build(
        &config.integrations.sql,
        defaults.interval.0,
        defaults.timeout.0,
    ));
    out
}
