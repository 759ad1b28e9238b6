//! The Prometheus remote_write 1.0 exporter: every accepted sample, with its original
//! timestamp, pushed to each configured endpoint through a durable outbox of its own
//! (`docs/remote-write.md`).
//!
//! ```text
//! receivers -> translate -> series (as the pull endpoint names them) -> encode (protobuf,
//!   snappy) -> outbox of each endpoint (disk) -> OK to the agent
//!                                                 |
//!                                              sender: live / backlog bands -> client -> ack
//! ```

pub mod client;
pub mod encode;
pub mod outbox;
pub mod proto;
pub mod sender;
pub mod series;

use crate::config::remote_write::RemoteWrite;
use crate::telemetry::Telemetry;
use crate::telemetry::remote_write::{EndpointStats, Lost, SamplesDropped};
use client::{Client, ClientError};
use dozor_metrics::translate::Point;
use outbox::{Outbox, OutboxError};
use sender::Sender;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::{error, info};

/// Why the exporter could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// An outbox directory could not be opened.
    #[error("exporters.remote_write[{index}].outbox.path {path}: {source}")]
    Outbox {
        /// The entry.
        index: usize,
        /// The directory.
        path: String,
        /// What failed.
        source: OutboxError,
    },
    /// A client could not be built (secrets, TLS).
    #[error("{0}")]
    Client(#[from] ClientError),
}

/// One endpoint's queue, as the receivers see it.
#[derive(Debug)]
struct Queue {
    outbox: Arc<Outbox>,
    stats: Arc<EndpointStats>,
}

/// Where the receivers hand their translated points, for every endpoint.
#[derive(Debug)]
pub struct Exporter {
    queues: Vec<Queue>,
    /// The collector's own family names, which the store refuses from senders too.
    reserved: HashSet<String>,
}

impl Exporter {
    /// Writes the samples of `points` (`times[i]`: point i's `time_unix_nano`, 0 unknown) to
    /// every endpoint's outbox; returns once they are on disk (or counted as dropped).
    pub fn write(&self, points: &[Point], times: &[u64]) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let mut series = Vec::with_capacity(points.len());
        let fallback_ms = (now / 1_000_000) as i64;
        let skip = |family: &str| self.reserved.contains(family);
        let converted = series::append(points, times, fallback_ms, skip, &mut series);
        for q in &self.queues {
            SamplesDropped {
                reason: Lost::Delta,
                samples: converted.delta,
            }
            .emit(&q.stats);
        }
        if series.is_empty() {
            return;
        }
        let body = encode::encode(&series);
        for q in &self.queues {
            let (reason, samples) = match q.outbox.append(now, &body, converted.samples) {
                Ok(dropped) => (Lost::OutboxFull, dropped),
                Err(e) => {
                    error!(endpoint = %q.stats.endpoint, error = %e, "Appending to the remote_write outbox failed.");
                    (Lost::OutboxError, converted.samples)
                }
            };
            SamplesDropped { reason, samples }.emit(&q.stats);
        }
    }

    /// Syncs every outbox to disk (at shutdown).
    pub fn sync(&self) {
        for q in &self.queues {
            if let Err(e) = q.outbox.sync() {
                tracing::warn!(endpoint = %q.stats.endpoint, error = %e, "Syncing the remote_write outbox failed.");
            }
        }
    }
}

/// The exporter, and the sender of each endpoint.
pub type Started = (Arc<Exporter>, Vec<Sender>);

/// Opens every endpoint's outbox and builds its sender; the caller spawns each
/// [`Sender::run`]. `None` when no endpoint is configured.
pub fn start(
    configs: &[RemoteWrite],
    telemetry: &Arc<Telemetry>,
) -> Result<Option<Started>, StartError> {
    if configs.is_empty() {
        return Ok(None);
    }
    let mut queues = Vec::new();
    let mut senders = Vec::new();
    for (index, config) in configs.iter().enumerate() {
        let dir = config.outbox_dir();
        let (outbox, lost) =
            Outbox::open(&dir, config.outbox.max_bytes).map_err(|source| StartError::Outbox {
                index,
                path: dir.display().to_string(),
                source,
            })?;
        let client = Client::new(index, config)?;
        let stats = telemetry.remote_write.endpoint(&config.url);
        SamplesDropped {
            reason: Lost::Corrupt,
            samples: lost,
        }
        .emit(&stats);
        let outbox = Arc::new(outbox);
        let (pending, bytes) = outbox.usage();
        stats.outbox(pending, bytes, 0);
        info!(
            endpoint = %config.url,
            outbox = %dir.display(),
            pending,
            "remote_write exporter started."
        );
        senders.push(Sender::new(
            outbox.clone(),
            client,
            stats.clone(),
            config.clone(),
        ));
        queues.push(Queue { outbox, stats });
    }
    let reserved = Telemetry::reserved_names().into_iter().collect();
    Ok(Some((Arc::new(Exporter { queues, reserved }), senders)))
}
