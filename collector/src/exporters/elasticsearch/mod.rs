//! The Elasticsearch exporter: OTLP log records from the receivers, through a durable outbox,
//! into an Elasticsearch data stream with `_bulk` (`docs/elasticsearch.md`,
//! `docs/adr/0006-logs-to-elasticsearch.md`).
//!
//! ```text
//! receivers (logs) -> delivery tracking -> outbox (disk) -> OK to the agent
//!                                            |
//!                                         sender -> document (otel mapping) -> _bulk -> ack
//! ```

pub mod bulk;
pub mod client;
pub mod document;
pub mod outbox;
pub mod sender;

use crate::config::elasticsearch::Elasticsearch;
use crate::telemetry::Telemetry;
use crate::telemetry::logs::OutboxDropped;
use client::{Client, ClientError};
use outbox::{Outbox, OutboxError};
use sender::Sender;
use std::sync::Arc;
use tracing::info;

/// Why the exporter could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The outbox directory could not be opened.
    #[error("exporters.elasticsearch.outbox.path {path}: {source}")]
    Outbox {
        /// The directory.
        path: String,
        /// What failed.
        source: OutboxError,
    },
    /// The client could not be built (secrets, TLS).
    #[error("{0}")]
    Client(#[from] ClientError),
}

/// Opens the outbox and builds the sender; the caller spawns [`Sender::run`].
pub fn start(
    config: &Elasticsearch,
    telemetry: &Arc<Telemetry>,
) -> Result<(Arc<Outbox>, Sender), StartError> {
    let dir = config.outbox.resolved_path();
    let (outbox, lost) =
        Outbox::open(&dir, config.outbox.max_bytes).map_err(|source| StartError::Outbox {
            path: dir.display().to_string(),
            source,
        })?;
    OutboxDropped {
        batches: lost,
        error: "recovery cut corrupt records",
    }
    .emit(telemetry);
    let client = Client::new(config)?;
    let outbox = Arc::new(outbox);
    let (batches, bytes) = outbox.usage();
    telemetry.logs.outbox(batches, bytes);
    info!(
        outbox = %dir.display(),
        pending = batches,
        endpoints = ?config.endpoints,
        index = %config.index,
        "Elasticsearch exporter started."
    );
    let sender = Sender::new(outbox.clone(), client, telemetry.clone(), config.clone());
    Ok((outbox, sender))
}
