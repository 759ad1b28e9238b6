//! The OTLP receivers, and the pipeline both hand decoded requests to.
//!
//! A receiver only deals with its wire (framing, size limits, compression, status codes);
//! [`Pipeline::export`] does the rest the same way for both: translate by the
//! OpenTelemetry-to-Prometheus rules, update the fleet view, store, count.
//! [`Pipeline::export_logs`] does the same for log records, which go to the Elasticsearch
//! outbox, and [`Pipeline::export_traces`] for spans, which become RED metrics stored through
//! [`Pipeline::store_red`]; all share [`Pipeline::admit_items`] and delivery tracking.

pub mod bounds;
pub mod conn;
pub mod grpc_export;
mod logs;
pub mod otlp_grpc;
pub mod otlp_http;
pub mod prescan;
mod timestamps;
pub mod tls;
pub mod traces;

use crate::admission::senders::Sender;
use crate::admission::tokens::Scope;
use crate::admission::{Admitted, Gate, Refused};
use crate::delivery::{
    Batch, Delivered, Delivery, StreamKey, parse_elsewhere, valid_agent, valid_stream,
};
use crate::exporters::elasticsearch::outbox::Outbox;
use crate::store::Store;
use crate::store::budget::SeriesBudget;
use crate::store::fleet::Fleet;
use crate::telemetry::events::{PointsDropped, RequestAccepted};
use crate::telemetry::{DropReason, Receiver, Refusal, Telemetry};
use dozor_metrics::otlp::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use dozor_metrics::otlp::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use dozor_metrics::otlp::common::v1::any_value;
use dozor_metrics::otlp::resource::v1::Resource;
use dozor_metrics::sample::{count_points, resource_points};
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
    /// Sequence tracking of agents' streams.
    pub delivery: Arc<Delivery>,
    /// Admission checks: draining, tokens, memory, rates.
    pub gate: Arc<Gate>,
    /// Series budget of each named sender (`limits.per_agent.max_series`), when set.
    pub budget: Option<Arc<SeriesBudget>>,
    /// Series budget of each unnamed sender (`limits.unidentified.max_series`), when set.
    pub unidentified_budget: Option<Arc<SeriesBudget>>,
    /// The Elasticsearch outbox, where accepted log records go; `None` when no
    /// `exporters.elasticsearch` is configured (logs are then refused).
    pub logs: Option<Arc<Outbox>>,
    /// Bounds on one request (`limits.request`), checked before it is decoded.
    pub bounds: prescan::Bounds,
    /// Bounds on one point (`limits.point`), checked once it is translated.
    pub point_bounds: bounds::PointBounds,
    /// Spans to RED metrics, and their forwarding (`spans`).
    pub spans: Arc<crate::spans::Spans>,
    /// The remote_write endpoints every stored point also goes to, with its own timestamp;
    /// `None` when no `exporters.remote_write` is configured.
    pub remote_write: Option<Arc<crate::exporters::remote_write::Exporter>>,
}

/// A string resource attribute.
pub(crate) fn attribute<'a>(resource: Option<&'a Resource>, key: &str) -> Option<&'a str> {
    resource?
        .attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
}

/// The `service.instance.id` a resource claims.
pub fn instance_id(resource: Option<&Resource>) -> Option<&str> {
    attribute(resource, "service.instance.id")
}

/// The refusal of a request over one of `limits.request`.
pub(crate) fn over_bound(over: prescan::Over) -> Refused {
    let (reason, what, n, key) = match over {
        prescan::Over::DataPoints(n) => {
            (Refusal::TooManyPoints, "data points", n, "max_data_points")
        }
        prescan::Over::Attributes(n) => (
            Refusal::TooManyAttributes,
            "attributes",
            n,
            "max_attributes",
        ),
        prescan::Over::Resources(n) => (
            Refusal::TooManyResources,
            "resource and scope entries",
            n,
            "max_resources",
        ),
    };
    Refused::new(
        reason,
        format!(
            "more than {} {what} in one request (limits.request.{key}): split it",
            n.saturating_sub(1)
        ),
    )
}

pub(crate) fn decode<M: prost::Message + Default>(body: &[u8]) -> Result<M, Refused> {
    M::decode(body)
        .map_err(|e| Refused::new(Refusal::DecodeError, format!("invalid protobuf: {e}")))
}

/// The delivery headers of a request (`docs/adr/0005-delivery-protocol.md`): `None` when it carries neither
/// `dozor-stream` nor `dozor-seq` (an OpenTelemetry SDK, another collector: not tracked).
/// `agent` is the name the request's token maps to, which then overrides `dozor-agent`.
pub fn delivery_batch(
    headers: &http::HeaderMap,
    agent: Option<&str>,
) -> Result<Option<Batch>, String> {
    let get = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"));
    let (stream, seq) = (get("dozor-stream"), get("dozor-seq"));
    if stream.is_none() && seq.is_none() {
        return Ok(None);
    }
    let stream = stream.ok_or("dozor-seq without dozor-stream")?;
    if !valid_stream(stream) {
        return Err("dozor-stream must be 16 lowercase hex digits".into());
    }
    let number = |name: &str| -> Result<u64, String> {
        get(name)
            .ok_or_else(|| format!("{name} missing"))?
            .parse()
            .map_err(|_| format!("{name} must be a decimal u64"))
    };
    let (seq, oldest) = (number("dozor-seq")?, number("dozor-oldest")?);
    let agent = match agent {
        Some(a) => a,
        None => get("dozor-agent").ok_or("dozor-agent missing")?,
    };
    if !valid_agent(agent) {
        return Err(
            "dozor-agent must be 1 to 128 printable ASCII characters without spaces".into(),
        );
    }
    let elsewhere = match get("dozor-elsewhere") {
        Some(v) => parse_elsewhere(v)?,
        None => Vec::new(),
    };
    Ok(Some(Batch {
        key: StreamKey::new(agent, stream),
        seq,
        oldest,
        elsewhere,
    }))
}

impl Pipeline {
    /// Handles one admitted metrics request from its (decompressed) protobuf body: counts it
    /// on the wire against `limits.request`, charges what decoding it will cost to the memory
    /// limiter for as long as it is handled, decodes it and hands it to [`Pipeline::export`].
    /// Nothing is built for a request refused here.
    pub fn receive_metrics(
        &self,
        receiver: Receiver,
        body: &[u8],
        headers: &http::HeaderMap,
        admitted: &Admitted,
    ) -> Result<ExportMetricsServiceResponse, Refused> {
        let cost = prescan::metrics(body, &self.bounds).map_err(over_bound)?;
        let max_labels = self.point_bounds.max_labels() as u64;
        if cost.widest_point > max_labels {
            return Err(Refused::new(
                Refusal::TooManyAttributes,
                format!(
                    "a data point with {} attributes, more than limits.point.max_labels ({max_labels})",
                    cost.widest_point
                ),
            ));
        }
        let _held = self.gate.charge(cost.decoded_bytes, admitted)?;
        let request: ExportMetricsServiceRequest = decode(body)?;
        self.export(receiver, &request, headers, admitted)
    }

    /// [`Pipeline::receive_metrics`] for logs: the same bounds and charge, then
    /// [`Pipeline::export_logs`].
    pub fn receive_logs(
        &self,
        receiver: Receiver,
        body: &[u8],
        headers: &http::HeaderMap,
        admitted: &Admitted,
    ) -> Result<ExportLogsServiceResponse, Refused> {
        if self.logs.is_none() {
            return Err(logs::logs_disabled());
        }
        let cost = prescan::logs(body, &self.bounds).map_err(over_bound)?;
        let _held = self.gate.charge(cost.decoded_bytes, admitted)?;
        let request: ExportLogsServiceRequest = decode(body)?;
        self.export_logs(receiver, &request, body, headers, admitted)
    }

    /// Stores one admitted, decoded request and says what was not stored, as OTLP partial
    /// success. A tracked batch received before is answered the same way and not stored
    /// again. Refuses malformed delivery headers and agents over their rate.
    pub fn export(
        &self,
        receiver: Receiver,
        request: &ExportMetricsServiceRequest,
        headers: &http::HeaderMap,
        admitted: &Admitted,
    ) -> Result<ExportMetricsServiceResponse, Refused> {
        let instance = request
            .resource_metrics
            .first()
            .and_then(|rm| instance_id(rm.resource.as_ref()));
        let (batch, sender) =
            self.admit_items(headers, admitted, count_points(request), instance)?;
        let scope = admitted.agent.as_deref().zip(admitted.scope.as_deref());
        self.export_batch(receiver, request, batch.as_ref(), &sender, scope)
    }

    /// The checks both signals make once a request is decoded: its delivery headers, and the
    /// sender's rate, from which `items` (data points or log records) are taken. Returns the
    /// batch to track, if any, and the sender the request counts against: the token's agent,
    /// else the `dozor-agent` header, else `instance` (the first resource's
    /// `service.instance.id`), else the client's address.
    pub fn admit_items(
        &self,
        headers: &http::HeaderMap,
        admitted: &Admitted,
        items: u64,
        instance: Option<&str>,
    ) -> Result<(Option<Batch>, Sender), Refused> {
        let batch = delivery_batch(headers, admitted.agent.as_deref())
            .map_err(|e| Refused::new(Refusal::BadDeliveryHeader, e))?;
        let name = match (&batch, &admitted.agent) {
            (Some(b), _) => Some(b.key.agent.as_str()),
            (None, Some(a)) => Some(a.as_str()),
            (None, None) => admitted
                .claimed
                .as_deref()
                .or(instance.filter(|i| valid_agent(i))),
        };
        let sender = Sender::of(name, admitted.peer);
        self.gate.take_points(&sender, items)?;
        Ok((batch, sender))
    }

    /// Stores one decoded request, tracking it when it carries a batch. `sender` is whose
    /// series budget the points count against; `token` the agent a token named and the
    /// identities it may speak for (resources outside them are not stored). A batch the
    /// delivery ledger cannot record is refused.
    pub fn export_batch(
        &self,
        receiver: Receiver,
        request: &ExportMetricsServiceRequest,
        batch: Option<&Batch>,
        sender: &Sender,
        token: Option<(&str, &Scope)>,
    ) -> Result<ExportMetricsServiceResponse, Refused> {
        let points_in = count_points(request);
        let Some(batch) = batch else {
            return Ok(self.store_request(Some(receiver), request, points_in, sender, token));
        };
        Ok(
            match self.delivery.deliver(batch, points_in, || {
                self.store_request(Some(receiver), request, points_in, sender, token)
            })? {
                Delivered::Stored(response) => response,
                Delivered::Duplicate => {
                    for rm in &request.resource_metrics {
                        self.fleet.observe(&Identity::of(rm));
                    }
                    RequestAccepted {
                        receiver,
                        points: 0,
                    }
                    .emit(&self.telemetry);
                    ExportMetricsServiceResponse::default()
                }
            },
        )
    }

    /// Stores one translated request; `receiver` is `None` for the collector's own RED
    /// metrics from spans, which are not received points.
    fn store_request(
        &self,
        receiver: Option<Receiver>,
        request: &ExportMetricsServiceRequest,
        points_in: u64,
        sender: &Sender,
        token: Option<(&str, &Scope)>,
    ) -> ExportMetricsServiceResponse {
        let mut points = Vec::with_capacity(points_in as usize + request.resource_metrics.len());
        let mut times = Vec::with_capacity(points.capacity());
        let mut rejected = Rejected::default();
        let mut over_budget = 0;
        let mut foreign = 0;
        let budget = match sender.is_named() {
            true => &self.budget,
            false => &self.unidentified_budget,
        };
        let owner = sender.key();
        let (mut exemplars, mut bounded, now) =
            (Vec::new(), bounds::Bounded::default(), bounds::now_ns());
        for rm in &request.resource_metrics {
            if let Some((agent, scope)) = token
                && !scope.allows(
                    agent,
                    instance_id(rm.resource.as_ref()),
                    attribute(rm.resource.as_ref(), "site"),
                )
            {
                foreign += resource_points(rm);
                continue;
            }
            let start = points.len();
            let r = translate::translate(rm, &self.options, &mut points);
            exemplars.clear();
            timestamps::of(rm, &mut times, &mut exemplars, points.len());
            self.point_bounds.apply(
                &mut points,
                &mut times,
                start,
                &exemplars,
                now,
                &mut bounded,
            );
            rejected.unsupported_type += r.unsupported_type;
            rejected.invalid += r.invalid;
            if let Some(budget) = budget {
                over_budget += budget.apply(&owner, &mut points[start..]);
            }
            self.fleet.observe(&Identity::of(rm));
        }
        // Before the store takes the values, and whatever it keeps: a replayed backlog is
        // out of order for the latest-value store, not for a time-series database.
        if let Some(rw) = &self.remote_write {
            rw.write(&points, &times);
        }
        let ingested = self.store.ingest_timed(points, &times);
        if over_budget > 0 {
            self.gate.standing.over(sender);
        } else {
            self.gate.standing.stored(sender);
        }
        if let Some(receiver) = receiver {
            RequestAccepted {
                receiver,
                points: points_in,
            }
            .emit(&self.telemetry);
        }
        bounded.emit(&self.telemetry);
        let drops = [
            (DropReason::UnsupportedType, rejected.unsupported_type),
            (DropReason::Invalid, rejected.invalid),
            (DropReason::SeriesLimit, ingested.series_limit),
            (DropReason::NameConflict, ingested.name_conflict),
            (DropReason::OutOfOrder, ingested.out_of_order),
            (DropReason::SeriesBudget, over_budget),
            (DropReason::ForeignIdentity, foreign),
        ];
        let mut message = String::new();
        let mut total = 0;
        for (reason, count) in drops.into_iter().chain(bounded.dropped()) {
            if count > 0 {
                PointsDropped { reason, count }.emit(&self.telemetry);
                if !reason.is_loss() {
                    continue;
                }
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
