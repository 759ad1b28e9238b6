//! OTLP resource metrics to Prometheus points, by the OpenTelemetry-to-Prometheus rules.
//!
//! Resource attributes: `service.namespace`/`service.name` become `job`, `service.instance.id`
//! becomes `instance`, the rest go to a `target_info` series; the keys listed in
//! [`Options::promote`] are also copied onto every series (bounded attributes like `site`).

use crate::exposition::{Family, Kind, Series, Value};
use crate::naming::{label_name, metric_name};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, DataPointFlags, ResourceMetrics, metric, number_data_point,
};
use std::collections::BTreeMap;

/// How resource attributes are mapped.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Resource attribute keys copied as labels onto every series of that resource.
    pub promote: Vec<String>,
}

/// One translated data point.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Family name (counters end in `_total`).
    pub family: String,
    /// Prometheus type.
    pub kind: Kind,
    /// Help text (the OTLP description).
    pub help: String,
    /// Sorted labels, job/instance and promoted resource labels included.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: Value,
    /// True when the point is a delta to add to the current state, not a cumulative state.
    pub delta: bool,
    /// When the counter or histogram started counting (OTLP `start_time_unix_nano`), Unix
    /// nanoseconds; 0 for gauges and when not sent.
    pub start_ns: u64,
}

/// What a request contained that cannot be exposed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rejected {
    /// Exponential histograms and summaries: no lossless Prometheus form here.
    pub unsupported_type: u64,
    /// Points without a value, or a metric without a name.
    pub invalid: u64,
}

/// The identity of the resource that sent a batch, as the fleet view needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// `job` label (`service.namespace/service.name`).
    pub job: Option<String>,
    /// `instance` label (`service.instance.id`).
    pub instance: Option<String>,
    /// Every resource attribute as a string.
    pub attributes: BTreeMap<String, String>,
}

impl Identity {
    /// Reads the identity from OTLP resource attributes.
    pub fn of(rm: &ResourceMetrics) -> Identity {
        let attributes: BTreeMap<String, String> = rm
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .map(|kv| (kv.key.clone(), value_string(kv)))
            .collect();
        let job =
            attributes
                .get("service.name")
                .map(|name| match attributes.get("service.namespace") {
                    Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
                    _ => name.clone(),
                });
        let instance = attributes.get("service.instance.id").cloned();
        Identity {
            job,
            instance,
            attributes,
        }
    }
}

/// Translates one resource's metrics, appending points to `out`. Returns what was rejected.
pub fn translate(rm: &ResourceMetrics, opts: &Options, out: &mut Vec<Point>) -> Rejected {
    let identity = Identity::of(rm);
    let mut base: Vec<(String, String)> = Vec::new();
    if let Some(job) = &identity.job {
        base.push(("job".into(), job.clone()));
    }
    if let Some(instance) = &identity.instance {
        base.push(("instance".into(), instance.clone()));
    }
    for key in &opts.promote {
        if let Some(v) = identity.attributes.get(key) {
            base.push((label_name(key), v.clone()));
        }
    }

    let mut info = base.clone();
    for (k, v) in &identity.attributes {
        let identifying = matches!(
            k.as_str(),
            "service.name" | "service.namespace" | "service.instance.id"
        );
        // Promoted attributes are already in `base`.
        if !identifying && !opts.promote.contains(k) {
            info.push((label_name(k), v.clone()));
        }
    }
    join_same_names(&mut info);
    out.push(Point {
        family: "target_info".into(),
        kind: Kind::Gauge,
        help: "Target metadata.".into(),
        labels: info,
        value: Value::Number(1.0),
        delta: false,
        start_ns: 0,
    });

    let mut rejected = Rejected::default();
    for sm in &rm.scope_metrics {
        for m in &sm.metrics {
            let Some(data) = &m.data else {
                rejected.invalid += 1;
                continue;
            };
            if m.name.is_empty() {
                rejected.invalid += points_in(data);
                continue;
            }
            match data {
                metric::Data::Gauge(g) => {
                    let family = metric_name(&m.name, &m.unit, Kind::Gauge);
                    for p in &g.data_points {
                        push_number(
                            out,
                            &mut rejected,
                            &family,
                            Kind::Gauge,
                            &m.description,
                            &base,
                            &p.attributes,
                            p.flags,
                            p.value.as_ref(),
                            false,
                            0,
                        );
                    }
                }
                metric::Data::Sum(s) => {
                    let kind = if s.is_monotonic {
                        Kind::Counter
                    } else {
                        Kind::Gauge
                    };
                    let family = metric_name(&m.name, &m.unit, kind);
                    let delta = s.aggregation_temporality == AggregationTemporality::Delta as i32;
                    for p in &s.data_points {
                        push_number(
                            out,
                            &mut rejected,
                            &family,
                            kind,
                            &m.description,
                            &base,
                            &p.attributes,
                            p.flags,
                            p.value.as_ref(),
                            delta,
                            if kind == Kind::Counter {
                                p.start_time_unix_nano
                            } else {
                                0
                            },
                        );
                    }
                }
                metric::Data::Histogram(h) => {
                    let family = metric_name(&m.name, &m.unit, Kind::Histogram);
                    let delta = h.aggregation_temporality == AggregationTemporality::Delta as i32;
                    for p in &h.data_points {
                        let well_formed = p.bucket_counts.len() == p.explicit_bounds.len() + 1
                            && p.bucket_counts.iter().sum::<u64>() == p.count;
                        if no_value(p.flags) || !well_formed {
                            rejected.invalid += 1;
                            continue;
                        }
                        out.push(Point {
                            family: family.clone(),
                            kind: Kind::Histogram,
                            help: m.description.clone(),
                            labels: labels(&base, &p.attributes),
                            value: Value::Histogram {
                                bounds: p.explicit_bounds.clone(),
                                counts: p.bucket_counts.clone(),
                                sum: p.sum.unwrap_or(0.0),
                                count: p.count,
                            },
                            delta,
                            start_ns: p.start_time_unix_nano,
                        });
                    }
                }
                other => rejected.unsupported_type += points_in(other),
            }
        }
    }
    rejected
}

#[allow(clippy::too_many_arguments)]
fn push_number(
    out: &mut Vec<Point>,
    rejected: &mut Rejected,
    family: &str,
    kind: Kind,
    help: &str,
    base: &[(String, String)],
    attributes: &[KeyValue],
    flags: u32,
    value: Option<&number_data_point::Value>,
    delta: bool,
    start_ns: u64,
) {
    let v = match value {
        Some(number_data_point::Value::AsDouble(v)) => *v,
        Some(number_data_point::Value::AsInt(v)) => *v as f64,
        None => {
            rejected.invalid += 1;
            return;
        }
    };
    if no_value(flags) {
        rejected.invalid += 1;
        return;
    }
    out.push(Point {
        family: family.to_string(),
        kind,
        help: help.to_string(),
        labels: labels(base, attributes),
        value: Value::Number(v),
        delta,
        start_ns,
    });
}

fn no_value(flags: u32) -> bool {
    flags & DataPointFlags::NoRecordedValueMask as u32 != 0
}

fn points_in(data: &metric::Data) -> u64 {
    (match data {
        metric::Data::Gauge(d) => d.data_points.len(),
        metric::Data::Sum(d) => d.data_points.len(),
        metric::Data::Histogram(d) => d.data_points.len(),
        metric::Data::ExponentialHistogram(d) => d.data_points.len(),
        metric::Data::Summary(d) => d.data_points.len(),
    }) as u64
}

fn labels(base: &[(String, String)], attributes: &[KeyValue]) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(base.len() + attributes.len());
    out.extend_from_slice(base);
    for kv in attributes {
        let mut name = label_name(&kv.key);
        if base.iter().any(|(k, _)| *k == name) {
            name.insert_str(0, "exported_");
        }
        out.push((name, value_string(kv)));
    }
    join_same_names(&mut out);
    out
}

/// Sorts labels by name and joins the values of those that map to the same name with `;`, in
/// the order they came, as the specification says. A stable sort keeps that order and one pass
/// joins neighbours: O(n log n), where looking each name up in the labels so far was O(n²).
fn join_same_names(labels: &mut Vec<(String, String)>) {
    labels.sort_by(|a, b| a.0.cmp(&b.0));
    labels.dedup_by(|later, kept| {
        if later.0 != kept.0 {
            return false;
        }
        kept.1.push(';');
        kept.1.push_str(&later.1);
        true
    });
}

/// An OTLP attribute value as a label string.
pub fn value_string(kv: &KeyValue) -> String {
    match kv.value.as_ref().and_then(|v: &AnyValue| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

/// Groups points into families sorted by name, series sorted by labels; the last point of a
/// series wins, deltas are added up. This is what `dozor-agent collect --once` prints; the
/// collector keeps the same state in its sharded store (`collector/src/store`).
pub fn into_families(points: Vec<Point>) -> Vec<Family> {
    type SeriesMap = BTreeMap<Vec<(String, String)>, Value>;
    let mut families: BTreeMap<String, (Kind, String, SeriesMap)> = BTreeMap::new();
    for p in points {
        let entry = families
            .entry(p.family)
            .or_insert_with(|| (p.kind, p.help, BTreeMap::new()));
        if entry.0 != p.kind {
            continue; // one family name, one type: the first type seen wins
        }
        match (entry.2.get_mut(&p.labels), p.delta) {
            (Some(current), true) => add(current, &p.value),
            _ => {
                entry.2.insert(p.labels, p.value);
            }
        }
    }
    families
        .into_iter()
        .map(|(name, (kind, help, series))| Family {
            name,
            kind,
            help,
            series: series
                .into_iter()
                .map(|(labels, value)| Series {
                    labels,
                    value,
                    created: None,
                })
                .collect(),
        })
        .collect()
}

/// Adds a delta to a state of the same shape; mismatched histogram bounds replace the state.
pub fn add(current: &mut Value, delta: &Value) {
    match (current, delta) {
        (Value::Number(a), Value::Number(b)) => *a += b,
        (
            Value::Histogram {
                bounds,
                counts,
                sum,
                count,
            },
            Value::Histogram {
                bounds: b2,
                counts: c2,
                sum: s2,
                count: n2,
            },
        ) if bounds == b2 && counts.len() == c2.len() => {
            for (a, b) in counts.iter_mut().zip(c2) {
                *a += b;
            }
            *sum += s2;
            *count += n2;
        }
        (current, delta) => *current = delta.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::host;
    use crate::sample::{Recorder, ScopeBatch, to_request};

    fn request() -> ResourceMetrics {
        let mut r = Recorder::new();
        r.record(&host::CPU_TIME, 12.5, &["0", "user"]);
        r.record(&host::MEMORY_USAGE, 1024.0, &["used"]);
        r.record(&host::CPU_UTILIZATION, 0.25, &["user"]);
        let batch = ScopeBatch {
            scope: "host".into(),
            time_unix_nano: 1,
            samples: r.take(),
        };
        let resource = [
            ("service.name".to_string(), "dozor-agent".to_string()),
            ("service.instance.id".to_string(), "web-1".to_string()),
            ("host.name".to_string(), "web-1".to_string()),
            ("site".to_string(), "plant-a".to_string()),
        ];
        to_request(&resource, &[batch], 0)
            .resource_metrics
            .remove(0)
    }

    #[test]
    fn attributes_of_one_label_name_are_joined_in_the_order_sent() {
        let kv = |k: &str, v: &str| crate::sample::string_kv(k, v);
        let base = [("job".to_string(), "svc".to_string())];
        let got = labels(
            &base,
            &[
                kv("b.x", "2"),
                kv("a", "1"),
                kv("b_x", "3"),
                kv("job", "j"),
                kv("b.x", "4"),
            ],
        );
        let want: Vec<(String, String)> = [
            ("a", "1"),
            ("b_x", "2;3;4"),
            ("exported_job", "j"),
            ("job", "svc"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, want);
        // Many distinct names: sorted once, not compared with each other one by one.
        let many: Vec<KeyValue> = (0..100_000).map(|i| kv(&format!("k{i}"), "x")).collect();
        assert_eq!(labels(&base, &many).len(), 100_001);
    }

    #[test]
    fn names_labels_and_target_info() {
        let mut points = Vec::new();
        let opts = Options {
            promote: vec!["site".into()],
        };
        assert_eq!(
            translate(&request(), &opts, &mut points),
            Rejected::default()
        );
        let families = into_families(points);
        let names: Vec<_> = families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "system_cpu_time_seconds_total",
                "system_cpu_utilization_ratio",
                "system_memory_usage_bytes",
                "target_info"
            ]
        );
        let cpu = &families[0].series[0];
        let want: Vec<(String, String)> = [
            ("cpu_logical_number", "0"),
            ("cpu_mode", "user"),
            ("instance", "web-1"),
            ("job", "dozor-agent"),
            ("site", "plant-a"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(cpu.labels, want);
        assert_eq!(cpu.value, Value::Number(12.5));
        let info = &families[3].series[0].labels;
        assert!(
            info.contains(&("host_name".into(), "web-1".into())),
            "{info:?}"
        );
        assert!(!info.iter().any(|(k, _)| k == "service_name"), "{info:?}");
        // Regression: promoted attributes were added to target_info twice ("plant-a;plant-a").
        assert!(
            info.contains(&("site".into(), "plant-a".into())),
            "{info:?}"
        );
    }

    #[test]
    fn deltas_accumulate() {
        let mut v = Value::Number(1.0);
        add(&mut v, &Value::Number(2.5));
        assert_eq!(v, Value::Number(3.5));
    }
}
