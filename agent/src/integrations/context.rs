//! What an integration may use when it is built: file system roots, the agent's schedule
//! defaults, and where its log records go.

use crate::sink::LogSink;
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

/// Everything an integration is handed when it is built.
#[derive(Clone)]
pub struct Context {
    /// File system roots.
    pub paths: Paths,
    /// `agent.interval`: for a section that sets none.
    pub interval: Duration,
    /// `agent.timeout`: for a section that sets none.
    pub timeout: Duration,
    /// The agent's state directory (`agent.state_dir`), for what an integration keeps across
    /// restarts.
    pub state_dir: PathBuf,
    /// Whether integrations may write their state there: false in `collect --once`, which
    /// reads the running agent's state but never changes it.
    pub save_state: bool,
    /// Where log records go; `None` without an exporter (`collect --once`, or
    /// `exporters.otlp.enabled: false`), when records are only logged.
    pub logs: Option<Arc<dyn LogSink>>,
}

impl Context {
    /// A context with `agent.interval` and `agent.timeout` as given, the default paths and no
    /// sink.
    #[cfg(test)]
    pub fn for_tests(interval: Duration, timeout: Duration) -> Context {
        Context {
            paths: Paths::default(),
            interval,
            timeout,
            state_dir: std::env::temp_dir()
                .join(format!("dozor-test-state-{}", std::process::id())),
            save_state: false,
            logs: None,
        }
    }

    /// The interval and timeout of a section: its own when set, else the agent's.
    pub fn schedule(
        &self,
        interval: Option<dozor_config::Duration>,
        timeout: Option<dozor_config::Duration>,
    ) -> (Duration, Duration) {
        (
            interval.map_or(self.interval, |d| d.0),
            timeout.map_or(self.timeout, |d| d.0),
        )
    }
}
