//! The logs outbox: OTLP log records (the `flow` integration's lost-order events) written to a
//! second durable buffer, beside the metrics one, and sent by their own replay lane to the
//! collector's logs endpoint (`LogsService/Export`, `/v1/logs`) with the same delivery headers.
//!
//! The outbox is its own buffer directory, so its own stream id: the collector's
//! per-(agent, stream) sequence tracking covers logs exactly as it covers metrics. Its
//! directory is `exporters.otlp.logs.buffer.path`, by default `logs` inside the metrics
//! buffer's directory (the buffer only looks at its own segment files, so a subdirectory is
//! safe). A record is one encoded `ExportLogsServiceRequest` with the agent's resource and one
//! scope; its weight is its number of log records.
//!
//! Integrations append from their blocking threads: [`Outbox::append`] returns once the
//! records are written and synced to disk, so a caller may then record them as reported.

use super::config::{LogsBufferConfig, OtlpConfig};
use super::signal::Signal;
use super::stats::ExportStats;
use super::wal::{Backlog, Wal};
use crate::sink::{AppendError, LogSink};
use dozor_buffer::{Error, Options};
use dozor_metrics::otlp::collector::logs::v1::ExportLogsServiceRequest;
use dozor_metrics::otlp::common::v1::InstrumentationScope;
use dozor_metrics::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use dozor_metrics::otlp::resource::v1::Resource;
use dozor_metrics::sample::string_kv;
use prost::Message;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tracing::{info, warn};

/// The durable queue of log records waiting to be sent.
pub struct Outbox {
    wal: Arc<Wal>,
    resource: Vec<(String, String)>,
    stats: Arc<Mutex<ExportStats>>,
    max_batch_records: usize,
}

/// The outbox directory: the configured one, or `logs` inside the metrics buffer's.
pub fn resolved_path(config: &OtlpConfig) -> PathBuf {
    config
        .logs
        .buffer
        .path
        .clone()
        .unwrap_or_else(|| config.buffer.resolved_path().join("logs"))
}

/// The buffer options of the outbox.
fn options(b: &LogsBufferConfig) -> Options {
    super::options(b.segment_bytes, b.max_bytes, b.when_full, b.sync)
}

impl Outbox {
    /// Opens (and locks) the outbox for `config`, for records sent with `resource`.
    pub fn open(config: &OtlpConfig, resource: Vec<(String, String)>) -> anyhow::Result<Self> {
        Self::open_at(
            &resolved_path(config),
            options(&config.logs.buffer),
            resource,
            config.logs.max_batch_records,
        )
    }

    /// Opens the outbox in `dir`.
    pub fn open_at(
        dir: &Path,
        options: Options,
        resource: Vec<(String, String)>,
        max_batch_records: usize,
    ) -> anyhow::Result<Self> {
        Ok(Outbox {
            wal: Arc::new(Wal::open(dir, options)?),
            resource,
            stats: Arc::new(Mutex::new(ExportStats::new(
                Signal::Logs,
                super::counts::Counts::open(dir),
            ))),
            max_batch_records: max_batch_records.max(1),
        })
    }

    /// The buffer, for the sending lanes.
    pub(super) fn wal(&self) -> Arc<Wal> {
        self.wal.clone()
    }

    /// The counters, shared with the sending lanes.
    pub(super) fn stats(&self) -> Arc<Mutex<ExportStats>> {
        self.stats.clone()
    }

    /// The backlog, for gauges.
    pub(super) fn backlog(&self) -> Backlog {
        self.wal.backlog()
    }

    /// Appends `records` under instrumentation scope `scope` as one request, and syncs it to
    /// disk whatever `sync` says: when this returns `Ok` the records survive a crash or a
    /// power loss. Call with at most [`LogSink::max_batch_records`] records. Blocking: call it
    /// from a blocking thread. Records dropped to make room (`when_full: drop_oldest`) are
    /// counted and logged here; under `when_full: pause` a full outbox is `Error::Full`.
    pub fn append(&self, scope: &str, records: Vec<LogRecord>) -> Result<(), Error> {
        if records.is_empty() {
            return Ok(());
        }
        let count = u32::try_from(records.len()).unwrap_or(u32::MAX);
        let payload = request(&self.resource, scope, records).encode_to_vec();
        let appended = match self.wal.append(&payload, count, false) {
            Ok(appended) => appended,
            Err(failed) => {
                // Older records dropped making room are lost all the same; the caller keeps
                // these unreported and tries again (a full disk under `when_full: pause`
                // included).
                self.count_dropped(failed.dropped_points, failed.dropped_range);
                return Err(failed.error);
            }
        };
        info!(target: "dozor_agent::export::ledger", stream = %self.wal.stream(), seq = appended.seq, log_records = count, "Log records appended.");
        self.count_dropped(appended.dropped_points, appended.dropped_range);
        self.wal.sync()
    }

    /// Every record still in the outbox, decoded, acknowledging each (tests read what an
    /// integration appended).
    #[cfg(test)]
    pub fn take_all(&self) -> Vec<ExportLogsServiceRequest> {
        let mut out = Vec::new();
        while let Some(r) = self.wal.replay_next().unwrap() {
            out.push(ExportLogsServiceRequest::decode(&r.payload[..]).unwrap());
            self.wal.settle(r.seq).unwrap();
        }
        out
    }
}

impl Outbox {
    fn count_dropped(&self, records: u64, range: Option<(u64, u64)>) {
        let Some((first, end)) = range else { return };
        self.stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .count_items("dropped", records);
        warn!(
            target: "dozor_agent::export::ledger",
            stream = %self.wal.stream(),
            first_seq = first,
            last_seq = end - 1,
            log_records = records,
            "Logs outbox full; oldest log records dropped."
        );
    }
}

impl LogSink for Outbox {
    fn append(&self, scope: &str, records: Vec<LogRecord>) -> Result<(), AppendError> {
        Outbox::append(self, scope, records).map_err(Into::into)
    }

    fn max_batch_records(&self) -> usize {
        self.max_batch_records
    }
}

/// One request: the agent's resource, one scope, the records.
pub fn request(
    resource: &[(String, String)],
    scope: &str,
    log_records: Vec<LogRecord>,
) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: resource.iter().map(|(k, v)| string_kv(k, v)).collect(),
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: scope.into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                log_records,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::config::WhenFull;

    fn record(n: u64) -> LogRecord {
        LogRecord {
            time_unix_nano: n,
            event_name: "test".into(),
            ..Default::default()
        }
    }

    fn resource() -> Vec<(String, String)> {
        vec![("service.instance.id".into(), "ws-1".into())]
    }

    #[test]
    fn appends_requests_with_the_resource_and_scope_and_keeps_them_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open_at(dir.path(), Options::default(), resource(), 10).unwrap();
        outbox
            .append("dozor.integration.flow", vec![record(1), record(2)])
            .unwrap();
        outbox.append("dozor.integration.flow", vec![]).unwrap();
        let stream = outbox.wal.stream().to_string();
        assert_eq!(outbox.backlog().records, 1);
        assert_eq!(outbox.backlog().points, 2, "the weight is the record count");
        drop(outbox);
        let outbox = Outbox::open_at(dir.path(), Options::default(), resource(), 10).unwrap();
        assert_eq!(outbox.wal.stream(), stream);
        let requests = outbox.take_all();
        assert_eq!(requests.len(), 1);
        let rl = &requests[0].resource_logs[0];
        let attrs = &rl.resource.as_ref().unwrap().attributes;
        assert_eq!(attrs[0].key, "service.instance.id");
        let sl = &rl.scope_logs[0];
        assert_eq!(sl.scope.as_ref().unwrap().name, "dozor.integration.flow");
        let times: Vec<u64> = sl.log_records.iter().map(|r| r.time_unix_nano).collect();
        assert_eq!(times, [1, 2]);
        assert!(outbox.take_all().is_empty(), "acknowledged");
    }

    #[test]
    fn a_full_outbox_drops_the_oldest_exactly_or_refuses() {
        let big = |n: u64| LogRecord {
            time_unix_nano: n,
            body: Some(dozor_metrics::otlp::common::v1::AnyValue {
                value: Some(
                    dozor_metrics::otlp::common::v1::any_value::Value::StringValue(
                        "x".repeat(3000),
                    ),
                ),
            }),
            ..Default::default()
        };
        let small =
            |full| super::super::options(4096, 8192, full, crate::export::config::SyncMode::Never);
        let dir = tempfile::tempdir().unwrap();
        let outbox =
            Outbox::open_at(dir.path(), small(WhenFull::DropOldest), resource(), 10).unwrap();
        for n in 0..4 {
            outbox.append("s", vec![big(n)]).unwrap();
        }
        let dropped = outbox.stats.lock().unwrap().items("dropped");
        let left = outbox.take_all().len() as u64;
        assert!(dropped > 0);
        assert_eq!(
            dropped + left,
            4,
            "every record is either kept or counted dropped"
        );

        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open_at(dir.path(), small(WhenFull::Pause), resource(), 10).unwrap();
        let results: Vec<bool> = (0..4)
            .map(|n| outbox.append("s", vec![big(n)]).is_ok())
            .collect();
        assert!(results.contains(&false), "{results:?}");
        assert!(matches!(
            outbox.append("s", vec![big(9)]),
            Err(Error::Full { .. })
        ));
    }
}
