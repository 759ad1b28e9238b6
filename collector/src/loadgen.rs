//! A synthetic fleet for benchmarks and load tests: `agents` agents, each with
//! `series_per_agent` series spread over twenty realistic metrics (half counters, half gauges,
//! three attributes per point, eight resource attributes), sent as requests of `batch` points.
//!
//! Used by `benches/ingest.rs` (in-process) and `dozor-loadgen` (over gRPC).

use dozor_metrics::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use dozor_metrics::otlp::common::v1::InstrumentationScope;
use dozor_metrics::otlp::metrics::v1::{
    AggregationTemporality, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    metric, number_data_point,
};
use dozor_metrics::otlp::resource::v1::Resource;
use dozor_metrics::sample::string_kv;

/// The shape of the synthetic fleet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workload {
    /// Number of agents (resources).
    pub agents: usize,
    /// Series per agent.
    pub series_per_agent: usize,
    /// Data points per request.
    pub batch: usize,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            agents: 100,
            series_per_agent: 2_000,
            batch: 1_000,
        }
    }
}

/// (name, unit, monotonic counter?, attribute keys)
#[rustfmt::skip]
const METRICS: [(&str, &str, bool, [&str; 3]); 20] = [
    ("system.cpu.time", "s", true, ["cpu.logical_number", "cpu.mode", "host.cpu.model"]),
    ("system.network.io", "By", true, ["network.interface.name", "network.io.direction", "network.type"]),
    ("system.network.packets", "{packet}", true, ["network.interface.name", "network.io.direction", "network.type"]),
    ("system.network.errors", "{error}", true, ["network.interface.name", "network.io.direction", "network.type"]),
    ("system.disk.io", "By", true, ["system.device", "disk.io.direction", "disk.type"]),
    ("system.disk.operations", "{operation}", true, ["system.device", "disk.io.direction", "disk.type"]),
    ("process.cpu.time", "s", true, ["process.executable.name", "cpu.mode", "process.owner"]),
    ("http.server.requests", "{request}", true, ["http.route", "http.request.method", "http.response.status_code"]),
    ("postgresql.commits", "{commit}", true, ["postgresql.database.name", "db.system", "postgresql.role"]),
    ("rabbitmq.message.delivered", "{message}", true, ["rabbitmq.queue.name", "rabbitmq.vhost", "rabbitmq.node"]),
    ("system.memory.usage", "By", false, ["system.memory.state", "system.memory.type", "host.numa.node"]),
    ("system.filesystem.usage", "By", false, ["system.device", "system.filesystem.mountpoint", "system.filesystem.state"]),
    ("system.cpu.utilization", "1", false, ["cpu.logical_number", "cpu.mode", "host.cpu.model"]),
    ("container.cpu.throttled.ratio", "1", false, ["container.name", "k8s.namespace.name", "container.runtime"]),
    ("container.memory.usage", "By", false, ["container.name", "k8s.namespace.name", "container.runtime"]),
    ("postgresql.backends", "{connection}", false, ["postgresql.database.name", "db.system", "postgresql.role"]),
    ("postgresql.replication.data_delay", "By", false, ["replication.client", "db.system", "postgresql.role"]),
    ("rabbitmq.message.current", "{message}", false, ["rabbitmq.queue.name", "rabbitmq.message.state", "rabbitmq.node"]),
    ("kafka.consumer_group.lag", "{message}", false, ["group", "topic", "partition"]),
    ("dozor.probe.rtt", "s", false, ["probe.target", "probe.protocol", "network.peer.site"]),
];

const SITES: [&str; 3] = ["plant-a", "plant-b", "hq"];
const ROLES: [&str; 4] = ["web", "db", "queue", "workstation"];

impl Workload {
    /// Requests carrying every series once, for the given round (values grow with it).
    pub fn requests(&self, round: u64, time_unix_nano: u64) -> Vec<ExportMetricsServiceRequest> {
        let mut out = Vec::new();
        for agent in 0..self.agents {
            let resource = resource(agent);
            let mut start = 0;
            while start < self.series_per_agent {
                let end = (start + self.batch.max(1)).min(self.series_per_agent);
                out.push(ExportMetricsServiceRequest {
                    resource_metrics: vec![ResourceMetrics {
                        resource: Some(resource.clone()),
                        scope_metrics: vec![ScopeMetrics {
                            scope: Some(InstrumentationScope {
                                name: "dozor.loadgen".into(),
                                ..Default::default()
                            }),
                            metrics: metrics(start..end, round, time_unix_nano),
                            schema_url: String::new(),
                        }],
                        schema_url: String::new(),
                    }],
                });
                start = end;
            }
        }
        out
    }

    /// Total series of the fleet.
    pub fn series(&self) -> usize {
        self.agents * self.series_per_agent
    }
}

fn resource(agent: usize) -> Resource {
    let attrs = [
        ("service.name", "dozor-agent".to_string()),
        ("service.instance.id", format!("agent-{agent:04}")),
        ("service.version", "0.1.0".into()),
        ("host.name", format!("host-{agent:04}.example.internal")),
        ("host.arch", "amd64".into()),
        ("os.type", "linux".into()),
        ("site", SITES[agent % SITES.len()].into()),
        ("role", ROLES[agent % ROLES.len()].into()),
    ];
    Resource {
        attributes: attrs.iter().map(|(k, v)| string_kv(k, v)).collect(),
        ..Default::default()
    }
}

/// Series `i` of an agent belongs to metric `i % 20`; its attribute values derive from `i / 20`.
fn metrics(range: std::ops::Range<usize>, round: u64, time: u64) -> Vec<Metric> {
    let mut out: Vec<Metric> = Vec::new();
    for i in range {
        let m = i % METRICS.len();
        let n = i / METRICS.len();
        let (name, unit, counter, keys) = METRICS[m];
        let values = [
            format!("{}", n % 16),
            format!("v{}", (n / 16) % 16),
            format!("k{}", n / 256),
        ];
        let point = NumberDataPoint {
            attributes: keys
                .iter()
                .zip(&values)
                .map(|(k, v)| string_kv(k, v))
                .collect(),
            start_time_unix_nano: if counter { 1 } else { 0 },
            time_unix_nano: time,
            value: Some(number_data_point::Value::AsDouble(if counter {
                (round * (n as u64 + 1)) as f64
            } else {
                ((round + n as u64) % 100) as f64 * 0.5
            })),
            ..Default::default()
        };
        match out.iter_mut().find(|x| x.name == name) {
            Some(Metric {
                data: Some(metric::Data::Sum(s)),
                ..
            }) => s.data_points.push(point),
            Some(Metric {
                data: Some(metric::Data::Gauge(g)),
                ..
            }) => g.data_points.push(point),
            _ => out.push(Metric {
                name: name.into(),
                description: format!("Synthetic {name}."),
                unit: unit.into(),
                metadata: vec![],
                data: Some(if counter {
                    metric::Data::Sum(Sum {
                        data_points: vec![point],
                        aggregation_temporality: AggregationTemporality::Cumulative as i32,
                        is_monotonic: true,
                    })
                } else {
                    metric::Data::Gauge(Gauge {
                        data_points: vec![point],
                    })
                }),
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use dozor_metrics::sample::count_points;

    #[test]
    fn shape() {
        let w = Workload {
            agents: 3,
            series_per_agent: 2_000,
            batch: 1_000,
        };
        let reqs = w.requests(1, 5);
        assert_eq!(reqs.len(), 6);
        assert!(reqs.iter().all(|r| count_points(r) == 1_000));
        assert_eq!(
            reqs[0].resource_metrics[0].scope_metrics[0].metrics.len(),
            20
        );
    }
}
