//! `GET /v1/status`: the collector's state as one JSON document, built from what it already
//! tracks: the fleet view (`store::fleet`), delivery tracking (gaps and duplicates per agent),
//! admission's per-sender tally (points admitted, refusals by reason), the exporters, the
//! limits in force and the lifetime counters of `telemetry` (from which `top` computes rates).
//!
//! The same types deserialize the document on the CLI side, so the two cannot drift apart.

use crate::config::Config;
use crate::receivers::Pipeline;
use crate::telemetry::remote_write::Failure;
use crate::telemetry::{DropReason, Receiver, Refusal, logs::BulkOutcome};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The whole document.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// `dozor-collector` version.
    pub version: String,
    /// Seconds since the collector started; also the clock of `top`'s rates.
    pub uptime_seconds: f64,
    /// Every agent (and unnamed sender) heard from within `store.agent_ttl`, sorted by id.
    pub agents: Vec<Agent>,
    /// The series store and delivery tracking.
    pub stores: Stores,
    /// Every exporter.
    pub exporters: Vec<Exporter>,
    /// The limits in force, keyed by their configuration key (`limits.memory.limit`, ...).
    pub limits: BTreeMap<String, u64>,
    /// Lifetime totals.
    pub counters: Counters,
    /// One line per problem, most serious first; empty when healthy.
    pub attention: Vec<Attention>,
}

/// One agent, merged from the fleet view, delivery tracking and admission's tally.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    /// `service.instance.id` (the agent's `dozor-agent` header, its token's name), or the
    /// address of a sender that names itself in no way.
    pub id: String,
    /// False for a sender known only by its address.
    pub named: bool,
    /// `site` resource attribute.
    pub site: String,
    /// `host.name` resource attribute.
    pub host_name: String,
    /// `role` resource attribute.
    pub role: String,
    /// Unix milliseconds of the last request from it (accepted or refused).
    pub last_seen_unix_ms: Option<u64>,
    /// Data points and log records admitted.
    pub points: u64,
    /// Requests admitted.
    pub requests: u64,
    /// Batches stored.
    pub accepted_batches: u64,
    /// Batches that will never arrive (gaps in its sequence numbers).
    pub gaps: u64,
    /// Batches received again and not stored.
    pub duplicates: u64,
    /// Data points in those duplicate batches.
    pub duplicate_points: u64,
    /// Requests refused, by reason.
    pub refusals: BTreeMap<String, u64>,
    /// The backlog it reports in its own metrics, when it sends them.
    pub backlog: Option<Backlog>,
}

/// What an agent reports about its buffer (`dozor.agent.buffer.*`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Backlog {
    /// `dozor_agent_buffer_pending_points`.
    pub pending_points: f64,
    /// `dozor_agent_buffer_oldest_age_seconds{signal="metrics"}`.
    pub oldest_age_seconds: f64,
}

/// The store and delivery tracking.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stores {
    /// Series held.
    pub series: u64,
    /// `store.max_series`.
    pub max_series: u64,
    /// Agents in the fleet view.
    pub agents: u64,
    /// `delivery.ledger_path`; `None`: in memory.
    pub ledger_path: Option<String>,
    /// Ledger lines skipped and writes that failed.
    pub ledger_errors: u64,
    /// Free bytes on the ledger's file system.
    pub ledger_free_bytes: Option<u64>,
}

/// One exporter.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Exporter {
    /// `prometheus`, `elasticsearch`, `remote_write` (one row per endpoint).
    pub name: String,
    /// Where it serves or sends.
    pub endpoint: String,
    /// `serving` (pull), `idle` (nothing waiting), `sending` (a backlog is waiting).
    pub state: String,
    /// Batches waiting (`remote_write`: samples).
    pub pending: u64,
    /// Bytes waiting.
    pub pending_bytes: u64,
    /// Requests that failed so far and were retried (`remote_write`: samples refused for
    /// good).
    pub errors: u64,
    /// How long the oldest waiting item has waited, when the exporter tracks it.
    #[serde(default)]
    pub oldest_pending_age_seconds: Option<f64>,
    /// The last error, when the exporter keeps one.
    pub last_error: Option<String>,
}

/// Lifetime totals, as `/metrics` has them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// `dozor_collector_received_points_total`, both receivers.
    pub received_points: u64,
    /// `dozor_collector_requests_total{outcome="accepted"}`.
    pub accepted_requests: u64,
    /// `dozor_collector_requests_total{outcome="refused"}`.
    pub refused_requests: u64,
    /// `dozor_collector_dropped_points_total`, every reason.
    pub dropped_points: u64,
    /// `dozor_collector_received_log_records_total`.
    pub received_log_records: u64,
    /// Gaps of every agent.
    pub missing_batches: u64,
    /// Duplicates of every agent.
    pub duplicate_batches: u64,
}

/// A problem and what to do about it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Attention {
    /// What is wrong, naming the agent or component.
    pub problem: String,
    /// What to do.
    pub fix: String,
}

/// What the snapshot needs from the configuration, captured at start.
#[derive(Clone, Debug)]
pub struct Context {
    started: Instant,
    limits: BTreeMap<String, u64>,
    max_series: u64,
    silent_after: f64,
    ledger_path: Option<String>,
    prometheus: String,
    elasticsearch: Option<String>,
}

impl Context {
    /// The context of a collector started now with `config`; `prometheus` is the address
    /// `/metrics` is served on.
    pub fn new(config: &Config, prometheus: std::net::SocketAddr) -> Self {
        let l = &config.limits;
        let r = &config.receivers;
        let limits = [
            ("limits.memory.limit", l.memory.limit),
            ("limits.memory.spike", l.memory.spike),
            ("limits.memory.reserved", l.memory.reserved),
            (
                "limits.per_agent.points_per_second",
                l.per_agent.points_per_second,
            ),
            ("limits.per_agent.max_series", l.per_agent.max_series),
            (
                "limits.unidentified.points_per_second",
                l.unidentified.points_per_second,
            ),
            ("limits.unidentified.max_series", l.unidentified.max_series),
            ("limits.request.max_data_points", l.request.max_data_points),
            ("limits.request.max_attributes", l.request.max_attributes),
            ("limits.request.max_resources", l.request.max_resources),
            ("limits.connections.max", l.connections.max as u64),
            (
                "limits.connections.max_per_address",
                l.connections.max_per_address as u64,
            ),
            (
                "receivers.otlp_grpc.max_request_bytes",
                r.otlp_grpc.max_request_bytes,
            ),
            (
                "receivers.otlp_http.max_request_bytes",
                r.otlp_http.max_request_bytes,
            ),
            ("store.max_series", config.store.max_series as u64),
            (
                "store.series_ttl_seconds",
                config.store.series_ttl.0.as_secs(),
            ),
            (
                "store.agent_ttl_seconds",
                config.store.agent_ttl.0.as_secs(),
            ),
        ];
        Context {
            started: Instant::now(),
            limits: limits
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            max_series: config.store.max_series as u64,
            // An agent sends at least every interval; past the series' lifetime its series
            // are gone from Prometheus too.
            silent_after: config.store.series_ttl.0.as_secs_f64().max(60.0),
            ledger_path: (!config.delivery.ledger_path.is_empty())
                .then(|| config.delivery.ledger_path.clone()),
            prometheus: prometheus.to_string(),
            elasticsearch: config
                .exporters
                .elasticsearch
                .as_ref()
                .map(|es| es.endpoints.join(",")),
        }
    }
}

/// The document, now.
pub fn build(p: &Pipeline, cx: &Context) -> Status {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let mut agents: BTreeMap<String, Agent> = BTreeMap::new();
    fn entry<'a>(agents: &'a mut BTreeMap<String, Agent>, id: &str) -> &'a mut Agent {
        agents.entry(id.to_string()).or_insert_with(|| Agent {
            id: id.to_string(),
            named: true,
            ..Agent::default()
        })
    }
    for row in p.fleet.rows() {
        let a = entry(&mut agents, &row.agent);
        a.site = row.site;
        a.host_name = row.host_name;
        a.role = row.role;
        a.last_seen_unix_ms = Some((row.last_seen * 1000.0) as u64);
    }
    for row in p.delivery.rows() {
        let a = entry(&mut agents, &row.agent);
        a.accepted_batches = row.accepted_batches;
        a.gaps = row.missing_batches;
        a.duplicates = row.duplicate_batches;
        a.duplicate_points = row.duplicate_points;
    }
    for (key, counts) in p.gate.tally.rows() {
        let a = entry(&mut agents, &key);
        a.named = counts.named;
        a.points = counts.points;
        a.requests = counts.requests;
        a.refusals = counts
            .refusals
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        let last = counts
            .last
            .map(|t| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64);
        a.last_seen_unix_ms = a.last_seen_unix_ms.max(last);
    }
    let pending = p.store.family_values("dozor_agent_buffer_pending_points");
    let age = p
        .store
        .family_values("dozor_agent_buffer_oldest_age_seconds");
    let instance = |labels: &[(String, String)]| {
        labels
            .iter()
            .find(|(k, _)| k == "instance")
            .map(|(_, v)| v.clone())
    };
    for (labels, v) in pending {
        if let Some(a) = instance(&labels).and_then(|i| agents.get_mut(&i)) {
            a.backlog
                .get_or_insert_with(Backlog::default)
                .pending_points = v;
        }
    }
    for (labels, v) in age {
        let metrics = labels.iter().any(|(k, v)| k == "signal" && v == "metrics");
        if let Some(a) = instance(&labels)
            .filter(|_| metrics)
            .and_then(|i| agents.get_mut(&i))
        {
            a.backlog
                .get_or_insert_with(Backlog::default)
                .oldest_age_seconds = v;
        }
    }
    let agents: Vec<Agent> = agents.into_values().collect();
    let t = &p.telemetry;
    let sum = |f: &dyn Fn(Receiver) -> u64| Receiver::ALL.into_iter().map(f).sum::<u64>();
    let counters = Counters {
        received_points: sum(&|r| t.received_points(r)),
        accepted_requests: sum(&|r| t.accepted(r)),
        refused_requests: sum(&|r| Refusal::ALL.into_iter().map(|w| t.refused(r, w)).sum()),
        dropped_points: DropReason::ALL.into_iter().map(|d| t.dropped(d)).sum(),
        received_log_records: sum(&|r| t.logs.received(r)),
        missing_batches: agents.iter().map(|a| a.gaps).sum(),
        duplicate_batches: agents.iter().map(|a| a.duplicates).sum(),
    };
    let stores = Stores {
        series: p.store.len() as u64,
        max_series: cx.max_series,
        agents: p.fleet.rows().len() as u64,
        ledger_path: cx.ledger_path.clone(),
        ledger_errors: p.delivery.ledger_errors(),
        ledger_free_bytes: p.delivery.ledger_free_bytes(),
    };
    let mut exporters = vec![Exporter {
        name: "prometheus".into(),
        endpoint: cx.prometheus.clone(),
        state: "serving".into(),
        ..Exporter::default()
    }];
    if let Some(endpoint) = &cx.elasticsearch {
        let (batches, bytes) = t.logs.outbox_usage();
        exporters.push(Exporter {
            name: "elasticsearch".into(),
            endpoint: endpoint.clone(),
            state: if batches > 0 { "sending" } else { "idle" }.into(),
            pending: batches,
            pending_bytes: bytes,
            errors: t.logs.bulk(BulkOutcome::HttpError) + t.logs.bulk(BulkOutcome::TransportError),
            oldest_pending_age_seconds: None,
            last_error: None,
        });
    }
    for e in t.remote_write.endpoints() {
        let (samples, bytes, oldest) = e.pending();
        exporters.push(Exporter {
            name: "remote_write".into(),
            endpoint: e.endpoint.clone(),
            state: if samples > 0 { "sending" } else { "idle" }.into(),
            pending: samples,
            pending_bytes: bytes,
            errors: Failure::ALL.into_iter().map(|f| e.failed(f)).sum(),
            oldest_pending_age_seconds: Some(oldest),
            last_error: None,
        });
    }
    let mut limits = cx.limits.clone();
    if let Some(m) = &p.gate.memory {
        limits.insert("limits.memory.threshold".into(), m.threshold());
    }
    let mut status = Status {
        version: env!("CARGO_PKG_VERSION").to_string(),
        uptime_seconds: cx.started.elapsed().as_secs_f64(),
        agents,
        stores,
        exporters,
        limits,
        counters,
        attention: Vec::new(),
    };
    status.attention = super::status::attention(&status, now_ms, cx.silent_after);
    status
}
