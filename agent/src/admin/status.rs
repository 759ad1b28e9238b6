//! The JSON document `GET /v1/status` answers (documented field by field in docs/admin.md).
//! The same types decode it on the CLI side (`status`, `top`, `diagnose`, `flare`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Everything the agent knows about itself, as published by its subsystems.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Status {
    /// `dozor-agent` version.
    pub version: String,
    /// Seconds since the process started.
    pub uptime_seconds: u64,
    /// The configuration file it runs with; `None` for the built-in default.
    pub config_file: Option<String>,
    /// Resource attributes sent with everything (`host.name`, `service.instance.id`, ...).
    pub resource: BTreeMap<String, String>,
    /// One entry per scheduled integration, in schedule order.
    pub integrations: Vec<IntegrationStatus>,
    /// The on-disk buffers, per signal (`metrics`, `logs`).
    pub buffer: BTreeMap<String, BufferStatus>,
    /// One entry per signal and collector endpoint.
    pub export: Vec<EndpointStatus>,
    /// Items lost, by reason (`buffer_full`, `rejected`, `logs_buffer_full`, ...): lifetime totals.
    pub drops: BTreeMap<String, u64>,
    /// Lifetime totals from which `top` computes rates.
    pub counters: Counters,
    /// One line per problem, most urgent first; empty when healthy.
    pub attention: Vec<Attention>,
}

/// The last run of one integration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IntegrationStatus {
    /// The `integration` label: `host`, `postgresql/shop`.
    pub name: String,
    /// When the last run started, Unix milliseconds; `None` before the first run.
    pub last_run: Option<u64>,
    /// How long the last finished run took (for `running`: how long it has run so far).
    pub duration_ms: Option<u64>,
    /// `ok`, `error`, `timeout` (its run overran the timeout and has not returned), `running`
    /// (a run under way within its timeout), or `pending` (not run yet).
    pub result: String,
    /// The error class (`connect`, `auth`, `permission`, `timeout`, ...), when not ok.
    pub error_type: Option<String>,
    /// The error message, when not ok.
    pub error: Option<String>,
    /// What to do about it, when not ok.
    pub fix: Option<String>,
    /// The sources the last run read, each ok or not (integrations with several sources).
    pub sources: Vec<SourceStatus>,
    /// Run interval, seconds.
    pub interval_seconds: f64,
    /// Run timeout, seconds.
    pub timeout_seconds: f64,
    /// Runs so far (finished or timed out).
    pub runs: u64,
    /// Runs that failed or timed out so far.
    pub errors: u64,
    /// Runs skipped because the previous one was still running.
    pub skipped: u64,
    /// Data points recorded so far.
    pub points: u64,
}

/// One source of an integration's last run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SourceStatus {
    /// Source name (`pg_stat_database`, `queues`, ...).
    pub name: String,
    /// Whether it was read.
    pub ok: bool,
}

/// One on-disk buffer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BufferStatus {
    /// Records (batches) waiting to be sent.
    pub records: u64,
    /// Data points (log records for `logs`) waiting to be sent.
    pub points: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// `exporters.otlp.buffer.max_bytes` (or the logs outbox's).
    pub limit_bytes: u64,
    /// Age of the oldest record waiting, seconds; 0 when empty.
    pub oldest_age_seconds: f64,
    /// Free bytes on the buffer's file system, when known.
    pub filesystem_free_bytes: Option<u64>,
    /// Collection paused because the buffer is full (`when_full: pause`; metrics only).
    pub paused: bool,
}

/// One collector endpoint of one signal.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EndpointStatus {
    /// `metrics` or `logs`.
    pub signal: String,
    /// The endpoint URL as configured.
    pub endpoint: String,
    /// Whether the last request to it was taken; `None` before the first request.
    pub connected: Option<bool>,
    /// Circuit breaker: `closed`, `half_open` or `open`.
    pub breaker: String,
    /// The last failure's class: `unreachable`, `unauthenticated`, `retryable`, `rejected`.
    pub last_error_type: Option<String>,
    /// The last failure, while it is current (cleared by a success).
    pub last_error: Option<String>,
    /// The collector's `retry-after` of the last failure, seconds.
    pub retry_after_seconds: Option<f64>,
    /// When the last request was taken, Unix milliseconds.
    pub last_success: Option<u64>,
    /// Requests taken by this endpoint so far.
    pub requests_sent: u64,
    /// Requests that failed so far.
    pub requests_failed: u64,
}

/// Lifetime totals (since the process started, except the buffer's item counters, which
/// survive restarts as `dozor.agent.export.points` does).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counters {
    /// Data points the collector took.
    pub points_sent: u64,
    /// Data points dropped (buffer full, or failed writes).
    pub points_dropped: u64,
    /// Data points the collector refused permanently.
    pub points_rejected: u64,
    /// Requests (batches) the collector took, metrics and logs.
    pub batches_sent: u64,
    /// Requests that failed, metrics and logs.
    pub requests_failed: u64,
    /// Retries, both lanes.
    pub retries: u64,
    /// Log records the collector took.
    pub log_records_sent: u64,
    /// Log records dropped.
    pub log_records_dropped: u64,
    /// Integration runs.
    pub runs: u64,
    /// Integration runs that failed or timed out.
    pub run_errors: u64,
    /// Data points the integrations recorded.
    pub points_collected: u64,
}

/// One problem and its fix.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Attention {
    /// What is wrong, naming the part (`integration postgresql/shop`, `collector http://...`).
    pub problem: String,
    /// What to do.
    pub fix: String,
}
