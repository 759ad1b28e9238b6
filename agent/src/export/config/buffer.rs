//! `exporters.otlp.buffer` and `exporters.otlp.logs`: the durable buffers between batching and
//! the network.

use dozor_config::At;
use serde::Deserialize;
use std::path::PathBuf;

/// What the buffer does when it is full.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Delete the oldest segments; their points are counted exactly as `dropped`.
    #[default]
    DropOldest,
    /// Stop taking batches: collection pauses until the collector takes the backlog.
    Pause,
}

/// When the buffer forces data to disk (every policy survives the death of the process).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// Never fsync: a power loss may lose recent batches.
    Never,
    /// fsync appended batches at most once a second, acknowledgements always.
    #[default]
    Interval,
    /// fsync every append and acknowledgement.
    Always,
}

/// The on-disk write-ahead buffer.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct BufferConfig {
    /// Directory; when unset, `buffer` in the agent's state directory (`agent.state_dir`:
    /// `$STATE_DIRECTORY/buffer` under systemd, else `/var/lib/dozor-agent/buffer` as root,
    /// else `$XDG_STATE_HOME/dozor-agent/buffer` or `~/.local/state/dozor-agent/buffer`).
    pub path: Option<PathBuf>,
    /// Bytes on disk at most.
    pub max_bytes: u64,
    /// Bytes per segment file; smaller frees disk sooner and drops less at a time.
    pub segment_bytes: u64,
    /// `drop_oldest` or `pause` when `max_bytes` is reached.
    pub when_full: WhenFull,
    /// `never`, `interval` or `always`.
    pub sync: SyncMode,
}

impl Default for BufferConfig {
    fn default() -> Self {
        BufferConfig {
            path: None,
            max_bytes: 256 << 20,
            segment_bytes: 8 << 20,
            when_full: WhenFull::DropOldest,
            sync: SyncMode::Interval,
        }
    }
}

impl BufferConfig {
    /// The directory to use: `path`, or the default for how the agent runs.
    pub fn resolved_path(&self) -> PathBuf {
        if let Some(p) = &self.path {
            return p.clone();
        }
        dozor_config::state_dir("dozor-agent").join("buffer")
    }
}

/// Log records: the outbox they wait in, and how many go in one request.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct LogsConfig {
    /// Log records per request at most; more are split over several requests.
    pub max_batch_records: usize,
    /// The logs outbox: a second write-ahead buffer, with its own stream id.
    pub buffer: LogsBufferConfig,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            max_batch_records: 1000,
            buffer: LogsBufferConfig::default(),
        }
    }
}

/// The logs outbox on disk; the same settings as `buffer`, with its own defaults.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct LogsBufferConfig {
    /// Directory; when unset, `logs` inside the metrics buffer's directory (`buffer.path`).
    pub path: Option<PathBuf>,
    /// Bytes on disk at most.
    pub max_bytes: u64,
    /// Bytes per segment file.
    pub segment_bytes: u64,
    /// `drop_oldest` (the oldest records are deleted and counted) or `pause` (new events stay
    /// unreported in the flow's state and are tried again next run) when `max_bytes` is
    /// reached.
    pub when_full: WhenFull,
    /// `never`, `interval` or `always` for acknowledgements; appends are synced whatever this
    /// says, before a flow marks its events reported.
    pub sync: SyncMode,
}

impl Default for LogsBufferConfig {
    fn default() -> Self {
        LogsBufferConfig {
            path: None,
            max_bytes: 64 << 20,
            segment_bytes: 4 << 20,
            when_full: WhenFull::DropOldest,
            sync: SyncMode::Interval,
        }
    }
}

impl BufferConfig {
    /// Reports a segment smaller than a page or a bound that holds fewer than two segments.
    pub fn validate(&self, at: &mut At<'_>) {
        check_sizes(at, self.segment_bytes, self.max_bytes, "buffer");
    }
}

impl LogsConfig {
    /// Reports every problem of `exporters.otlp.logs`.
    pub fn validate(&self, at: &mut At<'_>) {
        at.at_least("max_batch_records", self.max_batch_records, 1);
        let b = &self.buffer;
        check_sizes(
            &mut at.at("buffer"),
            b.segment_bytes,
            b.max_bytes,
            "logs.buffer",
        );
    }
}

fn check_sizes(at: &mut At<'_>, segment_bytes: u64, max_bytes: u64, name: &str) {
    at.at_least("segment_bytes", segment_bytes, 4096);
    if max_bytes < 2 * segment_bytes {
        at.error(
            "max_bytes",
            format!("must be at least twice {name}.segment_bytes"),
        );
    }
}
