//! One RED state per service, bounded: `spans.max_services` at most, idle ones forgotten after
//! `spans.service_ttl`.

use crate::admission::senders::Sender;
use crate::config::spans::Spans as SpansConfig;
use crate::receivers::attribute;
use dozor_metrics::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use dozor_metrics::otlp::resource::v1::Resource;
use dozor_metrics::sample::{Recorder, ScopeBatch, to_request};
use dozor_red::red::{Exchange, Red, RedConfig};
use dozor_red::routes::{Routes, RoutesError};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The instrumentation scope of the metrics made from spans.
pub const SCOPE: &str = "dozor.collector.spans";

/// What OpenTelemetry SDKs call a service that did not name itself.
const UNKNOWN_SERVICE: &str = "unknown_service";

/// One service's RED state.
pub struct Service {
    red: Red,
    name: String,
    instance: String,
    last_seen: Instant,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.name)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// Measures one finished HTTP request of this service.
    pub fn observe(&mut self, h: &Exchange) {
        self.last_seen = Instant::now();
        self.red.observe(&Exchange {
            service: &self.name,
            ..h.clone()
        });
    }

    /// The resource of its metrics, and the sender whose series budget they count against.
    fn identity(&self) -> (Vec<(String, String)>, Sender) {
        let mut resource = vec![("service.name".to_string(), self.name.clone())];
        if !self.instance.is_empty() {
            resource.push(("service.instance.id".into(), self.instance.clone()));
        }
        let sender = match self.instance.is_empty() {
            true => &self.name,
            false => &self.instance,
        };
        (resource, Sender::Agent(sender.clone()))
    }
}

/// The services, keyed by `service.name` and `service.instance.id`.
#[derive(Debug)]
pub struct Services {
    map: HashMap<(String, String), Service>,
    max: usize,
    ttl: Duration,
    routes: Routes,
    red: RedConfig,
    started_ns: u64,
}

impl Services {
    /// None yet; fails when `spans.routes` cannot be built (an OpenAPI file unreadable).
    pub fn new(config: &SpansConfig) -> Result<Services, RoutesError> {
        Ok(Services {
            map: HashMap::new(),
            max: config.max_services,
            ttl: config.service_ttl.0,
            routes: Routes::new(&config.routes)?,
            red: RedConfig {
                max_series: config.max_series,
                ..RedConfig::default()
            },
            started_ns: dozor_metrics::time::now_nanos(),
        })
    }

    /// The state of the service of `resource`, made if there is room; `None` when there is
    /// none.
    pub fn get(&mut self, resource: Option<&Resource>) -> Option<&mut Service> {
        let name = attribute(resource, "service.name").unwrap_or(UNKNOWN_SERVICE);
        let instance = attribute(resource, "service.instance.id").unwrap_or("");
        let key = (name.to_string(), instance.to_string());
        if !self.map.contains_key(&key) {
            if self.map.len() >= self.max {
                return None;
            }
            let service = Service {
                red: Red::new(self.routes.clone(), self.red.clone()),
                name: key.0.clone(),
                instance: key.1.clone(),
                last_seen: Instant::now(),
            };
            self.map.insert(key.clone(), service);
        }
        self.map.get_mut(&key)
    }

    /// Records every service's metrics at `now_ns`, one request per service, and forgets
    /// those idle for longer than the TTL afterwards.
    pub fn record(&mut self, now_ns: u64) -> Vec<(ExportMetricsServiceRequest, Sender)> {
        let mut out = Vec::with_capacity(self.map.len());
        for service in self.map.values_mut() {
            let mut rec = Recorder::new();
            service.red.record(now_ns, &mut rec);
            let samples = rec.take();
            if samples.is_empty() {
                continue;
            }
            let (resource, sender) = service.identity();
            let batch = ScopeBatch {
                scope: SCOPE.into(),
                time_unix_nano: now_ns,
                samples,
            };
            out.push((to_request(&resource, &[batch], self.started_ns), sender));
        }
        let ttl = self.ttl;
        self.map.retain(|_, s| s.last_seen.elapsed() <= ttl);
        out
    }
}
