//! OTLP spans to HTTP RED metrics (`docs/spans.md`).
//!
//! Each accepted traces request is read span by span ([`http::read`]): HTTP server and client
//! spans are measured into one [`dozor_red::red::Red`] per service (the resource's
//! `service.name` and `service.instance.id`), at most `spans.max_services` of them, each with
//! its own route budget. Every `spans.flush_interval`, and once at shutdown, each service's
//! cumulative histograms are recorded, built into an OTLP metrics request
//! ([`dozor_metrics::sample::to_request`]) and stored through the same path as received
//! metrics ([`crate::receivers::Pipeline::store_red`]): the store, the Prometheus exposition
//! and everything downstream treat them exactly like metrics an agent sent.
//!
//! Every span is counted once in `dozor.collector.spans` by what became of it.

pub mod http;
mod services;

use crate::config::spans::Spans as SpansConfig;
use crate::exporters::traces_otlp::Forwarder;
use crate::receivers::Pipeline;
use crate::telemetry::Telemetry;
use crate::telemetry::spans::SpanResult;
use dozor_metrics::otlp::trace::v1::ResourceSpans;
use services::Services;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// The span-to-RED state of the collector, and its forwarder.
#[derive(Debug)]
pub struct Spans {
    services: Mutex<Services>,
    forwarder: Option<Arc<Forwarder>>,
    telemetry: Arc<Telemetry>,
}

impl Spans {
    /// Empty state for `config`; `forwarder` when `spans.forward` is set. Fails when
    /// `spans.routes` cannot be built.
    pub fn new(
        config: &SpansConfig,
        forwarder: Option<Arc<Forwarder>>,
        telemetry: Arc<Telemetry>,
    ) -> Result<Spans, dozor_red::routes::RoutesError> {
        Ok(Spans {
            services: Mutex::new(Services::new(config)?),
            forwarder,
            telemetry,
        })
    }

    /// Measures the HTTP spans of one resource; `allowed` is false for a resource the
    /// request's token may not speak for (counted, not measured).
    pub fn observe(&self, resource_spans: &ResourceSpans, allowed: bool) {
        let spans = || resource_spans.scope_spans.iter().flat_map(|s| &s.spans);
        if !allowed {
            let n = spans().count() as u64;
            self.telemetry.spans.result(SpanResult::ForeignIdentity, n);
            return;
        }
        let mut results = [0u64; SpanResult::ALL.len()];
        {
            let mut services = self.services.lock().unwrap_or_else(|e| e.into_inner());
            let mut service = services.get(resource_spans.resource.as_ref());
            for span in spans() {
                let result = match (&mut service, http::read(span)) {
                    (_, Err(skip)) => skip.into(),
                    (None, Ok(_)) => SpanResult::ServiceLimit,
                    (Some(s), Ok(h)) => {
                        s.observe(&h);
                        SpanResult::Recorded
                    }
                };
                results[result as usize] += 1;
            }
        }
        for (result, n) in SpanResult::ALL.into_iter().zip(results) {
            if n > 0 {
                self.telemetry.spans.result(result, n);
            }
        }
    }

    /// Queues a request for forwarding, when forwarding is configured.
    pub fn forward(&self, encoded: &[u8], spans: u64) {
        if let Some(f) = &self.forwarder {
            f.push(encoded, spans);
        }
    }

    /// The forwarder, to be run by the caller.
    pub fn forwarder(&self) -> Option<Arc<Forwarder>> {
        self.forwarder.clone()
    }

    /// Records every service's RED metrics now and stores them through `pipeline`; forgets
    /// services idle longer than `spans.service_ttl` once recorded.
    pub fn flush(&self, pipeline: &Pipeline) {
        let now = dozor_metrics::time::now_nanos();
        let requests = self
            .services
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(now);
        for (request, sender) in requests {
            pipeline.store_red(&request, &sender);
        }
    }

    /// Flushes every `interval` until `stop` resolves, then once more.
    pub async fn run(
        pipeline: Pipeline,
        interval: std::time::Duration,
        stop: impl Future<Output = ()>,
    ) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = ticks.tick() => {}
            }
            let p = pipeline.clone();
            let _ = tokio::task::spawn_blocking(move || p.spans.flush(&p)).await;
        }
    }
}

impl From<http::Skip> for SpanResult {
    fn from(skip: http::Skip) -> Self {
        match skip {
            http::Skip::NotServerOrClient => SpanResult::NotServerOrClient,
            http::Skip::NotHttp => SpanResult::NotHttp,
            http::Skip::StatusMissing => SpanResult::HttpStatusMissing,
            http::Skip::TargetMissing => SpanResult::HttpTargetMissing,
            http::Skip::BadTiming => SpanResult::BadTiming,
        }
    }
}
