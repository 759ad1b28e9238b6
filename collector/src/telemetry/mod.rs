//! The collector's metrics about itself, kept as plain atomics and rendered with the names and
//! help texts of `dozor_metrics::catalogue::collector`.
//!
//! Nothing here is incremented directly: every increment happens in [`events`], where the same
//! event type also writes the (rate-limited) log line, so the log and the metric always agree.

pub mod events;
pub(crate) mod log_every;
pub mod logs;
mod reasons;
pub mod remote_write;
pub mod spans;

pub use reasons::{CloseReason, DropReason, Receiver, Refusal};

use crate::delivery::DeliveryRow;
use dozor_metrics::MetricDef;
use dozor_metrics::catalogue::collector as catalogue;
use dozor_metrics::exposition::{Family, Series, Value};
use log_every::LogEvery;
use std::sync::atomic::{AtomicU64, Ordering};

const RECEIVERS: usize = Receiver::ALL.len();
const REFUSALS: usize = Refusal::ALL.len();
const DROPS: usize = DropReason::ALL.len();
const CLOSES: usize = CloseReason::ALL.len();

/// The collector's own counters. Shared by every receiver and the store sweeper.
#[derive(Debug, Default)]
pub struct Telemetry {
    received_points: [AtomicU64; RECEIVERS],
    accepted: [AtomicU64; RECEIVERS],
    refused: [[AtomicU64; REFUSALS]; RECEIVERS],
    dropped: [AtomicU64; DROPS],
    truncated: [AtomicU64; DROPS],
    closed: [[AtomicU64; CLOSES]; RECEIVERS],
    series_expired: AtomicU64,
    refused_log: [[LogEvery; REFUSALS]; RECEIVERS],
    dropped_log: [LogEvery; DROPS],
    truncated_log: [LogEvery; DROPS],
    closed_log: [[LogEvery; CLOSES]; RECEIVERS],
    /// OTLP logs and the Elasticsearch exporter.
    pub logs: logs::LogsTelemetry,
    /// OTLP traces: spans to RED metrics, forwarding.
    pub spans: spans::SpansTelemetry,
    /// The remote_write endpoints.
    pub remote_write: remote_write::RemoteWriteTelemetry,
}

/// One agent as the fleet view exposes it.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentRow {
    /// `service.instance.id`, or `host.name` when the agent sends no instance id.
    pub agent: String,
    /// `host.name` resource attribute.
    pub host_name: String,
    /// `site` resource attribute.
    pub site: String,
    /// `role` resource attribute.
    pub role: String,
    /// Unix time of the last accepted request, in seconds.
    pub last_seen: f64,
}

impl Telemetry {
    /// A fresh set of counters, all zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests refused so far by one receiver for one reason.
    pub fn refused(&self, receiver: Receiver, reason: Refusal) -> u64 {
        self.refused[receiver as usize][reason as usize].load(Ordering::Relaxed)
    }

    /// Data points received so far in requests one receiver accepted.
    pub fn received_points(&self, receiver: Receiver) -> u64 {
        self.received_points[receiver as usize].load(Ordering::Relaxed)
    }

    /// Requests one receiver accepted so far.
    pub fn accepted(&self, receiver: Receiver) -> u64 {
        self.accepted[receiver as usize].load(Ordering::Relaxed)
    }

    /// Points dropped so far for one reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason as usize].load(Ordering::Relaxed)
    }

    /// Points truncated so far for one reason.
    pub fn truncated(&self, reason: DropReason) -> u64 {
        self.truncated[reason as usize].load(Ordering::Relaxed)
    }

    /// Connections one receiver closed so far for one reason.
    pub fn closed(&self, receiver: Receiver, reason: CloseReason) -> u64 {
        self.closed[receiver as usize][reason as usize].load(Ordering::Relaxed)
    }

    /// The self-metric families, sorted by name. `series` and `agents` come from the store,
    /// `delivery` from delivery tracking.
    pub fn families(
        &self,
        series: usize,
        agents: &[AgentRow],
        delivery: &DeliveryView,
    ) -> Vec<Family> {
        let get = |a: &AtomicU64| Value::Number(a.load(Ordering::Relaxed) as f64);
        let mut out = vec![
            family(&catalogue::RECEIVED_POINTS, |s| {
                for r in Receiver::ALL {
                    s.push(row(&[r.as_str()], get(&self.received_points[r as usize])));
                }
            }),
            family(&catalogue::REQUESTS, |s| {
                for r in Receiver::ALL {
                    let refused: u64 = self.refused[r as usize]
                        .iter()
                        .map(|a| a.load(Ordering::Relaxed))
                        .sum();
                    let accepted = get(&self.accepted[r as usize]);
                    s.push(row(&[r.as_str(), "accepted"], accepted));
                    s.push(row(&[r.as_str(), "refused"], Value::Number(refused as f64)));
                }
            }),
            family(&catalogue::REFUSED_REQUESTS, |s| {
                for r in Receiver::ALL {
                    for reason in Refusal::ALL {
                        let v = get(&self.refused[r as usize][reason as usize]);
                        s.push(row(&[r.as_str(), reason.as_str()], v));
                    }
                }
            }),
            family(&catalogue::DROPPED_POINTS, |s| {
                for reason in DropReason::ALL {
                    s.push(row(&[reason.as_str()], get(&self.dropped[reason as usize])));
                }
            }),
            family(&catalogue::TRUNCATED_POINTS, |s| {
                for reason in DropReason::TRUNCATABLE {
                    s.push(row(
                        &[reason.as_str()],
                        get(&self.truncated[reason as usize]),
                    ));
                }
            }),
            family(&catalogue::CLOSED_CONNECTIONS, |s| {
                for r in Receiver::ALL {
                    for reason in CloseReason::ALL {
                        let v = get(&self.closed[r as usize][reason as usize]);
                        s.push(row(&[r.as_str(), reason.as_str()], v));
                    }
                }
            }),
            family(&catalogue::SERIES, |s| {
                s.push(row(&[], Value::Number(series as f64)))
            }),
            family(&catalogue::SERIES_EXPIRED, |s| {
                s.push(row(&[], get(&self.series_expired)))
            }),
            family(&catalogue::AGENTS, |s| {
                s.push(row(&[], Value::Number(agents.len() as f64)))
            }),
            family(&catalogue::AGENT_LAST_SEEN, |s| {
                for a in agents {
                    let values = [&*a.agent, &*a.host_name, &*a.site, &*a.role];
                    s.push(row(&values, Value::Number(a.last_seen)));
                }
            }),
            per_agent(&catalogue::DELIVERY_ACCEPTED_BATCHES, delivery, |r| {
                r.accepted_batches
            }),
            per_agent(&catalogue::DELIVERY_DUPLICATE_BATCHES, delivery, |r| {
                r.duplicate_batches
            }),
            per_agent(&catalogue::DELIVERY_DUPLICATE_POINTS, delivery, |r| {
                r.duplicate_points
            }),
            per_agent(&catalogue::DELIVERY_MISSING_BATCHES, delivery, |r| {
                r.missing_batches
            }),
            per_agent(&catalogue::DELIVERY_ELSEWHERE_BATCHES, delivery, |r| {
                r.elsewhere_batches
            }),
            family(&catalogue::DELIVERY_LEDGER_ERRORS, |s| {
                s.push(row(&[], Value::Number(delivery.ledger_errors as f64)))
            }),
            family(&catalogue::DELIVERY_LEDGER_FILESYSTEM_FREE, |s| {
                if let Some(free) = delivery.ledger_free {
                    s.push(row(&[], Value::Number(free as f64)))
                }
            }),
        ];
        out.extend(self.logs.families());
        out.extend(self.spans.families());
        out.extend(self.remote_write.families());
        // Label names come from the catalogue, values were pushed in declaration order.
        for (f, def) in out.iter_mut().zip(
            ALL_RENDERED
                .iter()
                .chain(&logs::RENDERED)
                .chain(&spans::RENDERED)
                .chain(&remote_write::RENDERED),
        ) {
            let names = def.prometheus_labels();
            for series in &mut f.series {
                for (pair, name) in series.labels.iter_mut().zip(&names) {
                    pair.0.clone_from(name);
                }
                series.labels.sort();
            }
            f.series.sort_by(|a, b| a.labels.cmp(&b.labels));
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The family names the collector renders itself: series from agents may not use them.
    pub fn reserved_names() -> Vec<String> {
        ALL_RENDERED
            .iter()
            .chain(&logs::RENDERED)
            .chain(&spans::RENDERED)
            .chain(&remote_write::RENDERED)
            .map(|d| d.prometheus_name())
            .collect()
    }
}

/// The order in which [`Telemetry::families`] builds its families.
static ALL_RENDERED: [&MetricDef; 17] = [
    catalogue::RECEIVED_POINTS.def(),
    catalogue::REQUESTS.def(),
    catalogue::REFUSED_REQUESTS.def(),
    catalogue::DROPPED_POINTS.def(),
    catalogue::TRUNCATED_POINTS.def(),
    catalogue::CLOSED_CONNECTIONS.def(),
    catalogue::SERIES.def(),
    catalogue::SERIES_EXPIRED.def(),
    catalogue::AGENTS.def(),
    catalogue::AGENT_LAST_SEEN.def(),
    catalogue::DELIVERY_ACCEPTED_BATCHES.def(),
    catalogue::DELIVERY_DUPLICATE_BATCHES.def(),
    catalogue::DELIVERY_DUPLICATE_POINTS.def(),
    catalogue::DELIVERY_MISSING_BATCHES.def(),
    catalogue::DELIVERY_ELSEWHERE_BATCHES.def(),
    catalogue::DELIVERY_LEDGER_ERRORS.def(),
    catalogue::DELIVERY_LEDGER_FILESYSTEM_FREE.def(),
];

/// What delivery tracking contributes to the self-metrics.
#[derive(Clone, Debug, Default)]
pub struct DeliveryView {
    /// Per-agent counters (agents silent for `agent_ttl` are gone).
    pub rows: Vec<DeliveryRow>,
    /// Ledger errors so far.
    pub ledger_errors: u64,
    /// Free bytes on the ledger's file system, when there is a ledger.
    pub ledger_free: Option<u64>,
}

fn per_agent(def: &MetricDef, d: &DeliveryView, get: impl Fn(&DeliveryRow) -> u64) -> Family {
    family(def, |s| {
        for r in &d.rows {
            s.push(row(&[&r.agent], Value::Number(get(r) as f64)));
        }
    })
}

fn family(def: &MetricDef, fill: impl FnOnce(&mut Vec<Series>)) -> Family {
    let mut series = Vec::new();
    fill(&mut series);
    Family {
        name: def.prometheus_name(),
        kind: def.prometheus_kind(),
        help: def.description.to_string(),
        series,
    }
}

/// A series whose label names are filled in from the declaration afterwards.
fn row(values: &[&str], value: Value) -> Series {
    Series {
        labels: values
            .iter()
            .map(|v| (String::new(), (*v).to_string()))
            .collect(),
        value,
        created: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use events::{RequestAccepted, RequestRefused};

    #[test]
    fn every_declared_collector_metric_is_rendered() {
        let rendered: Vec<_> = ALL_RENDERED
            .iter()
            .chain(&logs::RENDERED)
            .chain(&spans::RENDERED)
            .map(|d| d.name)
            .collect();
        for def in catalogue::ALL {
            assert!(rendered.contains(&def.name), "{} not rendered", def.name);
        }
        let rendered: Vec<_> = remote_write::RENDERED.iter().map(|d| d.name).collect();
        for def in dozor_metrics::catalogue::remote_write::ALL {
            assert!(rendered.contains(&def.name), "{} not rendered", def.name);
        }
    }

    #[test]
    fn events_count_with_declared_labels() {
        let t = Telemetry::new();
        RequestAccepted {
            receiver: Receiver::OtlpHttp,
            points: 7,
        }
        .emit(&t);
        RequestRefused {
            receiver: Receiver::OtlpGrpc,
            reason: Refusal::TooLarge,
            error: &"big",
        }
        .emit(&t);
        let agents = [AgentRow {
            agent: "a1".into(),
            host_name: "h1".into(),
            site: "s".into(),
            role: "r".into(),
            last_seen: 12.0,
        }];
        let families = t.families(3, &agents, &DeliveryView::default());
        let mut text = String::new();
        dozor_metrics::exposition::encode(
            &families,
            dozor_metrics::exposition::Format::Text,
            &mut text,
        );
        for line in [
            "dozor_collector_received_points_total{receiver=\"otlp_http\"} 7\n",
            "dozor_collector_requests_total{outcome=\"refused\",receiver=\"otlp_grpc\"} 1\n",
            "dozor_collector_refused_requests_total{reason=\"too_large\",receiver=\"otlp_grpc\"} 1\n",
            "dozor_collector_series 3\n",
            "dozor_collector_agents 1\n",
            "dozor_collector_agent_last_seen_timestamp_seconds{agent=\"a1\",host_name=\"h1\",role=\"r\",site=\"s\"} 12\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        let reserved = Telemetry::reserved_names();
        assert!(reserved.contains(&"dozor_collector_series".to_string()));
        assert_eq!(
            reserved.len(),
            catalogue::ALL.len() + dozor_metrics::catalogue::remote_write::ALL.len()
        );
    }
}
