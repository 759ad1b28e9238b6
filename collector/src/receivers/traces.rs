//! OTLP traces, after decoding: the same delivery headers, rate limit (spans count as data
//! points) and delivery tracking as metrics ([`Pipeline::admit_items`]), then
//! [`crate::spans::Spans`], which turns HTTP server and client spans into RED metrics and, when
//! configured, queues the request for forwarding to a tracing backend.
//!
//! The spans themselves are never stored: a request is answered OK once its spans are counted
//! into the RED histograms and (when forwarding) its bytes are in the forwarding queue or
//! counted as dropped from it. Resources whose `service.instance.id` the request's token may not
//! speak for are not turned into metrics (`dozor.collector.spans{result="foreign_identity"}`).

use super::Pipeline;
use crate::admission::{Admitted, Refused};
use crate::delivery::Delivered;
use crate::telemetry::Receiver;
use crate::telemetry::spans::SpansAccepted;
use dozor_metrics::otlp::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};

/// Spans in a request.
pub fn count_spans(request: &ExportTraceServiceRequest) -> u64 {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len() as u64)
        .sum()
}

impl Pipeline {
    /// [`Pipeline::receive_metrics`] for traces: the same bounds (spans count as data points)
    /// and memory charge, then [`Pipeline::export_traces`].
    pub fn receive_traces(
        &self,
        receiver: Receiver,
        body: &[u8],
        headers: &http::HeaderMap,
        admitted: &Admitted,
    ) -> Result<ExportTraceServiceResponse, Refused> {
        let cost = super::prescan::traces(body, &self.bounds).map_err(super::over_bound)?;
        let _held = self.gate.charge(cost.decoded_bytes, admitted)?;
        let request: ExportTraceServiceRequest = super::decode(body)?;
        self.export_traces(receiver, &request, body, headers, admitted)
    }

    /// Turns one admitted, decoded traces request (`encoded` is its protobuf) into RED
    /// measurements and queues it for forwarding, tracking it when it carries a batch.
    pub fn export_traces(
        &self,
        receiver: Receiver,
        request: &ExportTraceServiceRequest,
        encoded: &[u8],
        headers: &http::HeaderMap,
        admitted: &Admitted,
    ) -> Result<ExportTraceServiceResponse, Refused> {
        let spans = count_spans(request);
        let instance = request
            .resource_spans
            .first()
            .and_then(|rs| super::instance_id(rs.resource.as_ref()));
        let (batch, _sender) = self.admit_items(headers, admitted, spans, instance)?;
        let token = admitted.agent.as_deref().zip(admitted.scope.as_deref());
        let take = || {
            for rs in &request.resource_spans {
                let resource = rs.resource.as_ref();
                let allowed = token.is_none_or(|(agent, scope)| {
                    scope.allows(
                        agent,
                        super::instance_id(resource),
                        super::attribute(resource, "site"),
                    )
                });
                self.spans.observe(rs, allowed);
            }
            self.spans.forward(encoded, spans);
        };
        let taken = match &batch {
            None => {
                take();
                spans
            }
            Some(b) => match self.delivery.deliver(b, spans, take)? {
                Delivered::Stored(()) => spans,
                Delivered::Duplicate => 0,
            },
        };
        SpansAccepted {
            receiver,
            spans: taken,
        }
        .emit(&self.telemetry);
        Ok(ExportTraceServiceResponse::default())
    }
}

impl Pipeline {
    /// Stores RED metrics made from spans through the same path as received metrics
    /// (translation, point bounds, the sender's series budget, the store), without counting
    /// them as received points. `sender` is the service the spans came from.
    pub fn store_red(
        &self,
        request: &dozor_metrics::otlp::collector::metrics::v1::ExportMetricsServiceRequest,
        sender: &crate::admission::senders::Sender,
    ) {
        let points = dozor_metrics::sample::count_points(request);
        self.store_request(None, request, points, sender, None);
    }
}
