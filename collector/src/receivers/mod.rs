//! The OTLP receivers, and the pipeline both hand decoded requests to.
//!
//! A receiver only deals with its wire (framing, size limits, compression, status codes);
//! [`Pipeline::export`] does the rest the same way for both: translate by the
//! OpenTelemetry-to-Prometheus rules, update the fleet view, store, count.

pub mod otlp_grpc;
pub mod otlp_http;

use crate::store::Store;
use crate::store::fleet::Fleet;
use crate::telemetry::events::{PointsDropped, RequestAccepted};
use crate::telemetry::{DropReason, Receiver, Telemetry};
use dozor_metrics::otlp::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use dozor_metrics::sample::count_points;
use dozor_metrics::translate::{self, Identity, Options, Rejected};
use std::sync::Arc;

/// Everything a receiver needs to accept a request. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Pipeline {
    /// The series store.
    pub store: Arc<Store>,
    /// The fleet view.
    pub fleet: Arc<Fleet>,
    /// The collector's own counters.
    pub telemetry: Arc<Telemetry>,
    /// Translation options (`resource_to_labels`).
    pub options: Arc<Options>,
}

impl Pipeline {
    /// Stores one decoded request and says what was not stored, as OTLP partial success.
    pub fn export(
        &self,
        receiver: Receiver,
        request: &ExportMetricsServiceRequest,
    ) -> ExportMetricsServiceResponse {
        let points_in = count_points(request);
        let mut points = Vec::with_capacity(points_in as usize + request.resource_metrics.len());
        let mut rejected = Rejected::default();
        for rm in &request.resource_metrics {
            let r = translate::translate(rm, &self.options, &mut points);
            rejected.unsupported_type += r.unsupported_type;
            rejected.invalid += r.invalid;
            let identity = Identity::of(rm);
            self.fleet.observe(&identity);
        }
        let ingested = self.store.ingest(points);
        RequestAccepted {
            receiver,
            points: points_in,
        }
        .emit(&self.telemetry);
        let drops = [
            (DropReason::UnsupportedType, rejected.unsupported_type),
            (DropReason::Invalid, rejected.invalid),
            (DropReason::SeriesLimit, ingested.series_limit),
            (DropReason::NameConflict, ingested.name_conflict),
        ];
        let mut message = String::new();
        let mut total = 0;
        for (reason, count) in drops {
            if count > 0 {
                PointsDropped { reason, count }.emit(&self.telemetry);
                total += count;
                let sep = if message.is_empty() { "" } else { ", " };
                message.push_str(&format!("{sep}{count} {}", reason.as_str()));
            }
        }
        let partial_success = (total > 0).then(|| ExportMetricsPartialSuccess {
            rejected_data_points: total as i64,
            error_message: format!("{total} data points not stored: {message}"),
        });
        ExportMetricsServiceResponse { partial_success }
    }
}
