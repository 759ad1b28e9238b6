//! OTLP logs, after decoding: the same delivery headers, rate limit and delivery tracking as
//! metrics ([`Pipeline::admit_items`], [`crate::delivery::Delivery::try_deliver`]), then the
//! Elasticsearch outbox instead of the series store.
//!
//! A request is answered OK only once its records are in the outbox on disk. A duplicate batch
//! is answered OK and not appended again. A full outbox refuses with UNAVAILABLE / 503 and a
//! retry-after, so the agent keeps the records on its own disk; without
//! `exporters.elasticsearch` logs are refused with UNIMPLEMENTED / 404.

use super::Pipeline;
use crate::admission::{Admitted, OUTBOX_RETRY_AFTER_SECONDS, Refused};
use crate::delivery::Delivered;
use crate::exporters::elasticsearch::outbox::OutboxError;
use crate::telemetry::logs::{LogRecordsRefused, LogsAccepted};
use crate::telemetry::{Receiver, Refusal};
use dozor_metrics::otlp::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};

/// Log records in a request.
pub fn count_records(request: &ExportLogsServiceRequest) -> u64 {
    request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len() as u64)
        .sum()
}

/// The refusal when no Elasticsearch exporter is configured.
pub fn logs_disabled() -> Refused {
    Refused::new(
        Refusal::LogsDisabled,
        "this collector takes no OTLP logs: exporters.elasticsearch is not configured",
    )
}

impl Pipeline {
    /// Appends one admitted, decoded logs request (`encoded` is its protobuf) to the outbox,
    /// tracking it when it carries a batch.
    pub fn export_logs(
        &self,
        receiver: Receiver,
        request: &ExportLogsServiceRequest,
        encoded: &[u8],
        headers: &http::HeaderMap,
        admitted: &Admitted,
    ) -> Result<ExportLogsServiceResponse, Refused> {
        let records = count_records(request);
        let refuse = |r: Refused| {
            LogRecordsRefused {
                receiver,
                reason: r.reason,
                records,
            }
            .emit(&self.telemetry);
            r
        };
        let Some(outbox) = &self.logs else {
            return Err(refuse(logs_disabled()));
        };
        let instance = request
            .resource_logs
            .first()
            .and_then(|rl| super::instance_id(rl.resource.as_ref()));
        let (batch, sender) = self
            .admit_items(headers, admitted, records, instance)
            .map_err(refuse)?;
        let agent = sender.is_named().then(|| sender.key());
        let append = || {
            let tracked = batch
                .as_ref()
                .map(|b| (b.key.agent.as_str(), b.key.stream.as_str(), b.seq));
            outbox
                .append(tracked, agent.as_deref(), encoded, records)
                .map_err(|e| {
                    let message = match &e {
                        OutboxError::Full => {
                            "the Elasticsearch outbox is full: Elasticsearch is slow or away".into()
                        }
                        other => format!("the Elasticsearch outbox could not take it: {other}"),
                    };
                    Refused {
                        retry_after: Some(OUTBOX_RETRY_AFTER_SECONDS),
                        ..Refused::new(Refusal::OutboxFull, message)
                    }
                })
        };
        let appended = match &batch {
            None => append().map(|()| records),
            Some(b) => match self.delivery.try_deliver(b, records, append) {
                Ok(Delivered::Stored(())) => Ok(records),
                Ok(Delivered::Duplicate) => Ok(0),
                Err(e) => Err(e),
            },
        }
        .map_err(refuse)?;
        let (batches, bytes) = outbox.usage();
        self.telemetry.logs.outbox(batches, bytes);
        LogsAccepted {
            receiver,
            records: appended,
        }
        .emit(&self.telemetry);
        Ok(ExportLogsServiceResponse::default())
    }
}
