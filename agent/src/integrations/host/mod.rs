//! The `host` integration: CPU, memory, file systems, disks, network, TCP states, processes,
//! uptime and pressure stall information from procfs, plus cgroup metrics for the agent itself
//! and for configured services and containers from the cgroup file systems.
//!
//! Every source is one module with a pure parser and a thin reader. A source that is not present
//! on this host is not an error; a source that is present but unreadable or unparsable is, and
//! the other sources are still recorded: each module is a source of
//! `dozor.agent.scrape.source.success` (`cpu`, `processes`, ..., `cgroup`), and the first error
//! is the run's.

mod cgroup;
mod cpu;
mod disk;
mod filesystem;
mod load;
mod memory;
mod network;
mod open_files;
mod pressure;
mod processes;
mod sock_diag;
mod tcp;
mod uptime;

#[cfg(test)]
mod tests;

use super::{Context, Integration, IntegrationError, Paths, Scheduled, Section, Sources};
use dozor_config::{At, Duration, RegexPattern};
use dozor_metrics::sample::Recorder;
use serde::Deserialize;
use std::io::ErrorKind;
use std::path::Path;
use std::sync::LazyLock;

/// Mount points node_exporter excludes by default: pseudo trees, and the per-container mounts
/// of Docker and Podman (the containers' own file systems, reported by the container runtime).
pub const DEFAULT_EXCLUDE_MOUNT_POINTS: &str =
    r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";

/// File system types node_exporter excludes by default (pseudo file systems without disk space),
/// except `overlay`, which node_exporter excludes but we keep: a container's root is an overlay.
pub const DEFAULT_EXCLUDE_FS_TYPES: &str = "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$";

/// Block devices node_exporter excludes by default: RAM and loop devices, floppies and
/// partitions (whose I/O is already counted on the whole disk).
pub const DEFAULT_EXCLUDE_DEVICES: &str = r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";

/// `container.name` of the agent's own cgroup.
pub const OWN_CONTAINER_NAME: &str = "dozor-agent";

/// Settings of the `host` integration.
#[derive(Clone, Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct Config {
    /// Collect host metrics at all.
    pub enabled: bool,
    /// Time between collections; `agent.interval` when unset.
    pub interval: Option<Duration>,
    /// Longest a collection may take; `agent.timeout` when unset.
    pub timeout: Option<Duration>,
    /// Which mounts `system.filesystem.*` reports.
    pub filesystem: FilesystemConfig,
    /// Which block devices `system.disk.*` reports.
    pub disk: DiskConfig,
    /// Which interfaces `system.network.*` reports.
    pub network: NetworkConfig,
    /// TCP connection states (`system.network.connections`). Counting them walks every bucket
    /// of the kernel's socket hash table (262,144 buckets on a 24 GiB machine, about 1 ms of
    /// kernel time whatever the number of connections), more than the rest of the host
    /// integration together: once a minute by default.
    pub tcp: WalkConfig,
    /// The process count (`dozor.host.processes`), from listing `/proc`: the kernel builds a
    /// directory entry per process (about 1 µs each, a tenth of a collection on a quiet
    /// server): once a minute by default. Running and blocked tasks come from `/proc/stat` on
    /// every collection.
    pub processes: WalkConfig,
    /// Which cgroups `container.*` reports.
    pub cgroups: CgroupsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            interval: None,
            timeout: None,
            filesystem: FilesystemConfig::default(),
            disk: DiskConfig::default(),
            network: NetworkConfig::default(),
            tcp: WalkConfig::default(),
            processes: WalkConfig::default(),
            cgroups: CgroupsConfig::default(),
        }
    }
}

impl Section for Config {
    fn validate(&self, at: &mut At<'_>) {
        at.positive_if_set("interval", self.interval);
        at.positive_if_set("timeout", self.timeout);
        for (i, name) in self.cgroups.services.iter().enumerate() {
            if name.contains('/') {
                at.at("cgroups").item("services", i).error(
                    "",
                    format!("\"{name}\" is a path; list systemd unit names here and cgroup paths under containers"),
                );
            }
        }
    }

    fn build(&self, ctx: &Context) -> Vec<Scheduled> {
        if !self.enabled {
            return Vec::new();
        }
        let (interval, timeout) = ctx.schedule(self.interval, self.timeout);
        vec![Scheduled {
            integration: Box::new(Host::new(self, &ctx.paths)),
            interval,
            timeout,
        }]
    }
}

/// Mount filters, applied to `/proc/self/mounts`.
#[derive(Clone, Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct FilesystemConfig {
    /// Mount points to leave out; `null` leaves none out. Default (node_exporter's):
    /// `^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)`.
    pub exclude_mount_points: Option<RegexPattern>,
    /// File system types to leave out; `null` leaves none out. Default: node_exporter's pseudo
    /// file systems (autofs, binfmt_misc, bpf, cgroup, cgroup2, configfs, debugfs, devpts,
    /// devtmpfs, fusectl, hugetlbfs, iso9660, mqueue, nsfs, proc, procfs, pstore, rpc_pipefs,
    /// securityfs, selinuxfs, squashfs, sysfs, tracefs), keeping `overlay` (container roots).
    pub exclude_fs_types: Option<RegexPattern>,
}

impl Default for FilesystemConfig {
    fn default() -> Self {
        FilesystemConfig {
            exclude_mount_points: Some(pattern(&EXCLUDE_MOUNT_POINTS)),
            exclude_fs_types: Some(pattern(&EXCLUDE_FS_TYPES)),
        }
    }
}

/// Block device filter, applied to `/proc/diskstats` names.
#[derive(Clone, Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct DiskConfig {
    /// Devices to leave out; `null` leaves none out. Default (node_exporter's): RAM, loop and
    /// floppy devices and partitions, `^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$`.
    pub exclude_devices: Option<RegexPattern>,
}

impl Default for DiskConfig {
    fn default() -> Self {
        DiskConfig {
            exclude_devices: Some(pattern(&EXCLUDE_DEVICES)),
        }
    }
}

/// Interface filter, applied to `/proc/net/dev` names.
#[derive(Clone, Debug, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct NetworkConfig {
    /// Interfaces to leave out, e.g. `^(lo|veth.*)$`. Default: none, so every interface the
    /// host has is reported, loopback included.
    pub exclude_interfaces: Option<RegexPattern>,
}

/// A count that walks a kernel table object by object (every TCP socket bucket, every process
/// directory), so its cost grows with the host rather than being fixed: it runs on its own,
/// slower schedule. Between walks the collector keeps exposing the last counts (keep
/// `interval` below its `store.series_ttl`).
#[derive(Clone, Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct WalkConfig {
    /// Walk at all.
    pub enabled: bool,
    /// Shortest time between two walks; a collection within it skips the walk. `0s` walks on
    /// every collection.
    pub interval: Duration,
}

impl Default for WalkConfig {
    fn default() -> Self {
        WalkConfig {
            enabled: true,
            interval: Duration(std::time::Duration::from_secs(60)),
        }
    }
}

/// Cgroups reported as `container.*` metrics.
#[derive(Clone, Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct CgroupsConfig {
    /// Report the agent's own cgroup (from `/proc/self/cgroup`) as `container.name`
    /// `dozor-agent`.
    pub own: bool,
    /// systemd units, e.g. `postgresql.service`, read from the cgroup `system.slice/<unit>`;
    /// `container.name` is the unit name.
    pub services: Vec<String>,
    /// Any cgroups, by path relative to the cgroup root.
    pub containers: Vec<CgroupTarget>,
}

impl Default for CgroupsConfig {
    fn default() -> Self {
        CgroupsConfig {
            own: true,
            services: Vec::new(),
            containers: Vec::new(),
        }
    }
}

/// One configured cgroup.
#[derive(Clone, Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
pub struct CgroupTarget {
    /// `container.name` of its metrics.
    pub name: String,
    /// Path relative to the cgroup root, e.g. `docker/abc123` or `/kubepods.slice/pod1`.
    pub path: String,
}

/// A built-in default pattern, compiled once per process: the defaults are built for every
/// configuration load and schema rendering, and a clone of a compiled `Regex` shares it.
fn pattern(compiled: &'static LazyLock<regex::Regex>) -> RegexPattern {
    RegexPattern(LazyLock::force(compiled).clone())
}

static EXCLUDE_MOUNT_POINTS: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(DEFAULT_EXCLUDE_MOUNT_POINTS).expect("built-in pattern"));
static EXCLUDE_FS_TYPES: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(DEFAULT_EXCLUDE_FS_TYPES).expect("built-in pattern"));
static EXCLUDE_DEVICES: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(DEFAULT_EXCLUDE_DEVICES).expect("built-in pattern"));

/// The `host` integration; holds the previous CPU reading for utilization.
pub struct Host {
    paths: Paths,
    mounts: filesystem::Mounts,
    devices: Option<regex::Regex>,
    interfaces: Option<regex::Regex>,
    own_cgroup: bool,
    targets: Vec<cgroup::Target>,
    previous_cpu: Option<cpu::Ticks>,
    tcp: Walk,
    processes: Walk,
    /// Names of the configured cgroups not found in the last collection.
    missing_targets: Vec<String>,
}

impl Host {
    /// An integration reading from `paths` with `config`'s filters and cgroup targets.
    pub fn new(config: &Config, paths: &Paths) -> Host {
        let regex = |p: &Option<RegexPattern>| p.as_ref().map(|p| p.0.clone());
        Host {
            paths: paths.clone(),
            mounts: filesystem::Mounts::new(filesystem::Exclude {
                mount_points: regex(&config.filesystem.exclude_mount_points),
                fs_types: regex(&config.filesystem.exclude_fs_types),
            }),
            devices: regex(&config.disk.exclude_devices),
            interfaces: regex(&config.network.exclude_interfaces),
            own_cgroup: config.cgroups.own,
            targets: cgroup::configured_targets(&config.cgroups),
            previous_cpu: None,
            tcp: Walk::new(&config.tcp),
            processes: Walk::new(&config.processes),
            missing_targets: Vec::new(),
        }
    }

    /// Configured cgroups (services, containers and the agent's own) not found in the last
    /// collection.
    #[cfg(test)]
    pub fn missing_targets(&self) -> usize {
        self.missing_targets.len()
    }

    fn collect_stat(&mut self, recorder: &mut Recorder) -> Result<(), IntegrationError> {
        let path = self.paths.procfs.join("stat");
        let Some(text) = read_optional(&path)? else {
            return Ok(());
        };
        // One read of /proc/stat feeds both parsers; each records what it can.
        let procs = processes::parse_stat(&text).map(|p| processes::record_stat(recorder, &p));
        let stat = cpu::parse(&text).map_err(|e| parse_error(&path, e))?;
        cpu::record(recorder, &stat, self.previous_cpu.as_ref(), cpu::user_hz());
        self.previous_cpu = Some(stat.total);
        procs.map_err(|e| parse_error(&path, e))
    }
}

impl Integration for Host {
    fn name(&self) -> &str {
        "host"
    }

    fn collect(&mut self, recorder: &mut Recorder) -> Result<(), IntegrationError> {
        let mut sources = Sources::new("host");
        sources.note("cpu", self.collect_stat(recorder));
        let paths = &self.paths;
        if self.processes.due() {
            sources.note("processes", processes::collect(recorder, paths));
        }
        sources.note("load", load::collect(recorder, paths));
        sources.note("memory", memory::collect(recorder, paths));
        sources.note("uptime", uptime::collect(recorder, paths));
        sources.note("pressure", pressure::collect(recorder, paths));
        if self.tcp.due() {
            sources.note("tcp", tcp::collect(recorder, paths));
        }
        let mounts = &mut self.mounts;
        sources.note("filesystem", filesystem::collect(recorder, paths, mounts));
        let devices = self.devices.as_ref();
        sources.note("disk", disk::collect(recorder, paths, devices));
        let interfaces = self.interfaces.as_ref();
        sources.note("network", network::collect(recorder, paths, interfaces));
        let mut missing = Vec::new();
        let targets = &self.targets;
        let own = self.own_cgroup;
        cgroup::collect(recorder, paths, targets, own, &mut missing, &mut sources);
        // Logged when the set changes, not on every run: a service that is not installed here
        // is a normal state, not news.
        if missing != self.missing_targets {
            tracing::debug!(count = missing.len(), missing = ?missing, "Configured cgroups not found; skipped.");
        }
        self.missing_targets = missing;
        sources.finish(recorder)
    }

    fn needs_two_samples(&self) -> bool {
        true
    }
}

/// The schedule of one walk (see [`WalkConfig`]).
struct Walk {
    interval: Option<std::time::Duration>,
    last: Option<std::time::Instant>,
    runs: u64,
}

impl Walk {
    fn new(config: &WalkConfig) -> Walk {
        Walk {
            interval: config.enabled.then_some(config.interval.0),
            last: None,
            runs: 0,
        }
    }

    /// True, and counted as a walk, when the walk is enabled and this is one of the first two
    /// collections (the first only primes CPU counters, and `collect --once` prints the second)
    /// or the last walk is at least `interval` ago; 5% early counts as due, so that scheduling
    /// jitter does not skip a whole collection.
    fn due(&mut self) -> bool {
        let due = match (self.interval, self.last) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(_), Some(_)) if self.runs < 2 => true,
            (Some(interval), Some(last)) => last.elapsed() >= interval.mul_f64(0.95),
        };
        if due {
            self.runs += 1;
            self.last = Some(std::time::Instant::now());
        }
        due
    }
}

/// Why a file's text could not be parsed; becomes an `IntegrationError` of kind `parse`.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub reason: String,
}

impl ParseError {
    fn new(line: usize, reason: impl Into<String>) -> Self {
        ParseError {
            line,
            reason: reason.into(),
        }
    }
}

fn parse_error(path: &Path, error: ParseError) -> IntegrationError {
    IntegrationError::new("parse", format!("{}: {error}", path.display()))
}

fn io_error(path: &Path, error: &std::io::Error) -> IntegrationError {
    IntegrationError::new("io", format!("{}: {error}", path.display()))
}

/// Reads a whole file; `None` when it does not exist (a source this host does not have) or the
/// kernel does not support it (`/proc/pressure/*` with PSI disabled fails with EOPNOTSUPP).
fn read_optional(path: &Path) -> Result<Option<String>, IntegrationError> {
    match open_files::read(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::Unsupported) => Ok(None),
        Err(e) => Err(io_error(path, &e)),
    }
}

/// Parses one decimal unsigned field, naming it in the error.
fn number(field: Option<&str>, line: usize, what: &str) -> Result<u64, ParseError> {
    let field = field.ok_or_else(|| ParseError::new(line, format!("missing {what}")))?;
    field
        .parse()
        .map_err(|_| ParseError::new(line, format!("{what}: not a number: {field:?}")))
}
