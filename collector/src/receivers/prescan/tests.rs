//! The scan against requests built with the prost types: counts as the decoded request has
//! them, bounds, malformed and unusual encodings.

use super::*;
use dozor_metrics::otlp::collector::logs::v1::ExportLogsServiceRequest;
use dozor_metrics::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use dozor_metrics::otlp::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use dozor_metrics::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use dozor_metrics::otlp::metrics::v1::exponential_histogram_data_point::Buckets;
use dozor_metrics::otlp::metrics::v1::summary_data_point::ValueAtQuantile;
use dozor_metrics::otlp::metrics::v1::*;
use dozor_metrics::otlp::resource::v1::Resource;
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const UNBOUNDED: Bounds = Bounds {
    max_data_points: u64::MAX,
    max_attributes: u64::MAX,
    max_resources: u64::MAX,
};

fn s(v: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(v.into())),
    }
}

fn kv(k: &str, v: AnyValue) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(v),
        ..Default::default()
    }
}

/// Two attributes, one holding an array with a nested key-value list (2 more pairs).
fn attrs(tag: &str) -> Vec<KeyValue> {
    let list = AnyValue {
        value: Some(any_value::Value::KvlistValue(KeyValueList {
            values: vec![kv("a", s("1")), kv("b", s("2"))],
        })),
    };
    let array = AnyValue {
        value: Some(any_value::Value::ArrayValue(ArrayValue {
            values: vec![s("x"), list, AnyValue::default()],
        })),
    };
    vec![kv(tag, s("v")), kv("nested", array)]
}

fn exemplar() -> Exemplar {
    Exemplar {
        filtered_attributes: attrs("e"),
        span_id: vec![1; 8],
        trace_id: vec![2; 16],
        value: Some(exemplar::Value::AsDouble(1.0)),
        ..Default::default()
    }
}

fn metric(name: &str, data: metric::Data) -> Metric {
    Metric {
        name: name.into(),
        unit: "s".into(),
        description: "d".into(),
        metadata: attrs("meta"),
        data: Some(data),
    }
}

/// Every data point type, attributes at every level, exemplars, buckets.
fn rich() -> ExportMetricsServiceRequest {
    let number = NumberDataPoint {
        attributes: attrs("p"),
        exemplars: vec![exemplar(), exemplar()],
        value: Some(number_data_point::Value::AsInt(3)),
        ..Default::default()
    };
    let histogram = HistogramDataPoint {
        attributes: attrs("h"),
        bucket_counts: vec![1, 2, 3],
        explicit_bounds: vec![1.0, 2.0],
        count: 6,
        exemplars: vec![exemplar()],
        ..Default::default()
    };
    let buckets = Buckets {
        offset: 0,
        bucket_counts: vec![1, 300, 70_000],
    };
    let exponential = ExponentialHistogramDataPoint {
        attributes: attrs("x"),
        positive: Some(buckets.clone()),
        negative: Some(buckets),
        exemplars: vec![exemplar()],
        ..Default::default()
    };
    let summary = SummaryDataPoint {
        attributes: attrs("s"),
        quantile_values: vec![ValueAtQuantile::default(); 3],
        ..Default::default()
    };
    let metrics = vec![
        metric(
            "g",
            metric::Data::Gauge(Gauge {
                data_points: vec![number.clone(); 3],
            }),
        ),
        metric(
            "c",
            metric::Data::Sum(Sum {
                data_points: vec![number],
                is_monotonic: true,
                ..Default::default()
            }),
        ),
        metric(
            "h",
            metric::Data::Histogram(Histogram {
                data_points: vec![histogram; 2],
                ..Default::default()
            }),
        ),
        metric(
            "e",
            metric::Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![exponential],
                ..Default::default()
            }),
        ),
        metric(
            "s",
            metric::Data::Summary(Summary {
                data_points: vec![summary],
            }),
        ),
    ];
    let scope = ScopeMetrics {
        scope: Some(InstrumentationScope {
            name: "scope".into(),
            attributes: attrs("sc"),
            ..Default::default()
        }),
        metrics,
        schema_url: String::new(),
    };
    let rm = ResourceMetrics {
        resource: Some(Resource {
            attributes: attrs("service.name"),
            ..Default::default()
        }),
        scope_metrics: vec![scope.clone(), scope],
        schema_url: "u".into(),
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![rm.clone(), rm],
    }
}

fn count_any(v: Option<&AnyValue>) -> u64 {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::ArrayValue(a)) => a.values.iter().map(|v| count_any(Some(v))).sum(),
        Some(any_value::Value::KvlistValue(l)) => count_kvs(&l.values),
        _ => 0,
    }
}

fn count_kvs(kvs: &[KeyValue]) -> u64 {
    kvs.iter().map(|kv| 1 + count_any(kv.value.as_ref())).sum()
}

/// The counts, walking the decoded request.
fn decoded(req: &ExportMetricsServiceRequest) -> (u64, u64, u64, u64, u64) {
    let (mut resources, mut points, mut attributes, mut exemplars, mut buckets) = (0, 0, 0, 0, 0);
    let mut point = |a: &[KeyValue], e: &[Exemplar]| {
        points += 1;
        attributes += count_kvs(a);
        exemplars += e.len() as u64;
        attributes += e
            .iter()
            .map(|e| count_kvs(&e.filtered_attributes))
            .sum::<u64>();
    };
    let mut other = 0;
    for rm in &req.resource_metrics {
        resources += 1 + rm.scope_metrics.len() as u64;
        other += rm.resource.as_ref().map_or(0, |r| count_kvs(&r.attributes));
        for sm in &rm.scope_metrics {
            other += sm.scope.as_ref().map_or(0, |s| count_kvs(&s.attributes));
            for m in &sm.metrics {
                other += count_kvs(&m.metadata);
                match m.data.as_ref() {
                    Some(metric::Data::Gauge(g)) => g
                        .data_points
                        .iter()
                        .for_each(|p| point(&p.attributes, &p.exemplars)),
                    Some(metric::Data::Sum(g)) => g
                        .data_points
                        .iter()
                        .for_each(|p| point(&p.attributes, &p.exemplars)),
                    Some(metric::Data::Histogram(h)) => h.data_points.iter().for_each(|p| {
                        buckets += (p.bucket_counts.len() + p.explicit_bounds.len()) as u64;
                        point(&p.attributes, &p.exemplars)
                    }),
                    Some(metric::Data::ExponentialHistogram(h)) => {
                        h.data_points.iter().for_each(|p| {
                            for b in [&p.positive, &p.negative].into_iter().flatten() {
                                buckets += b.bucket_counts.len() as u64;
                            }
                            point(&p.attributes, &p.exemplars)
                        })
                    }
                    Some(metric::Data::Summary(s)) => {
                        s.data_points.iter().for_each(|p| point(&p.attributes, &[]))
                    }
                    None => {}
                }
            }
        }
    }
    (resources, points, attributes + other, exemplars, buckets)
}

fn scanned(bytes: &[u8]) -> (u64, u64, u64, u64, u64) {
    let c = metrics(bytes, &UNBOUNDED).expect("unbounded");
    (
        c.resources,
        c.data_points,
        c.attributes,
        c.exemplars,
        c.buckets,
    )
}

#[test]
fn counts_match_the_decoded_request() {
    let bytes = rich().encode_to_vec();
    let want = decoded(&ExportMetricsServiceRequest::decode(bytes.as_slice()).unwrap());
    assert_eq!(scanned(&bytes), want);
    // 2 resources × (1 + 2 scopes); 2 × 2 × (3 + 1 + 2 + 1 + 1) points.
    assert_eq!((want.0, want.1), (6, 32));
    assert!(metrics(&bytes, &UNBOUNDED).unwrap().decoded_bytes > bytes.len() as u64);
}

fn logs_request() -> ExportLogsServiceRequest {
    let record = LogRecord {
        body: Some(AnyValue {
            value: Some(any_value::Value::KvlistValue(KeyValueList {
                values: attrs("body"),
            })),
        }),
        attributes: attrs("l"),
        severity_text: "INFO".into(),
        trace_id: vec![1; 16],
        ..Default::default()
    };
    let scope = ScopeLogs {
        scope: Some(InstrumentationScope {
            attributes: attrs("sc"),
            ..Default::default()
        }),
        log_records: vec![record; 5],
        ..Default::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: attrs("r"),
                ..Default::default()
            }),
            scope_logs: vec![scope.clone(), scope],
            ..Default::default()
        }],
    }
}

#[test]
fn log_counts_match_the_decoded_request() {
    let req = logs_request();
    let c = logs(&req.encode_to_vec(), &UNBOUNDED).unwrap();
    let rl = &req.resource_logs[0];
    let mut attributes = count_kvs(&rl.resource.as_ref().unwrap().attributes);
    for sl in &rl.scope_logs {
        attributes += count_kvs(&sl.scope.as_ref().unwrap().attributes);
        for r in &sl.log_records {
            attributes += count_kvs(&r.attributes) + count_any(r.body.as_ref());
        }
    }
    assert_eq!(
        (c.resources, c.data_points, c.attributes),
        (3, 10, attributes)
    );
    assert!(c.decoded_bytes > 10 * std::mem::size_of::<LogRecord>() as u64);
}

#[test]
fn bounds_stop_the_scan_at_the_first_count_over() {
    let bytes = rich().encode_to_vec();
    let (resources, points, attributes, ..) = scanned(&bytes);
    let at = |r, p, a| Bounds {
        max_resources: r,
        max_data_points: p,
        max_attributes: a,
    };
    let m = u64::MAX;
    assert!(metrics(&bytes, &at(resources, points, attributes)).is_ok());
    assert_eq!(
        metrics(&bytes, &at(resources - 1, m, m)),
        Err(Over::Resources(resources))
    );
    assert_eq!(
        metrics(&bytes, &at(m, points - 1, m)),
        Err(Over::DataPoints(points))
    );
    assert_eq!(
        metrics(&bytes, &at(m, m, attributes - 1)),
        Err(Over::Attributes(attributes))
    );
    assert_eq!(metrics(&bytes, &at(m, 0, m)), Err(Over::DataPoints(1)));
    assert_eq!(metrics(&bytes, &at(0, m, m)), Err(Over::Resources(1)));
    let logs_bytes = logs_request().encode_to_vec();
    assert_eq!(logs(&logs_bytes, &at(m, 9, m)), Err(Over::DataPoints(10)));
}

#[test]
fn malformed_input_never_panics() {
    let mut small = rich();
    small.resource_metrics.truncate(1);
    small.resource_metrics[0].scope_metrics.truncate(1);
    let bytes = small.encode_to_vec();
    let logs_bytes = logs_request().encode_to_vec();
    for b in [&bytes, &logs_bytes] {
        for end in 0..b.len() {
            let _ = metrics(&b[..end], &UNBOUNDED);
            let _ = logs(&b[..end], &UNBOUNDED);
        }
    }
    let mut rng = StdRng::seed_from_u64(10);
    for _ in 0..5_000 {
        let len = rng.random_range(0..600);
        let random: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let _ = metrics(&random, &UNBOUNDED);
        let _ = logs(&random, &UNBOUNDED);
        let mut flipped = bytes.clone();
        for _ in 0..rng.random_range(1..8) {
            let i = rng.random_range(0..flipped.len());
            flipped[i] = rng.random();
        }
        let _ = metrics(&flipped, &UNBOUNDED);
    }
}

/// Encodes a length-delimited field.
fn field(number: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    prost::encoding::encode_key(number, prost::encoding::WireType::LengthDelimited, &mut out);
    prost::encoding::encode_varint(bytes.len() as u64, &mut out);
    out.extend_from_slice(bytes);
    out
}

/// Unknown fields of every wire type: varint, fixed64, bytes, a nested group, fixed32.
fn unknown() -> Vec<u8> {
    let mut b = vec![0xb8, 0x06, 0x96, 0x01]; // 103: varint
    b.extend([0xb9, 0x06, 0, 0, 0, 0, 0, 0, 0, 0]); // 103: fixed64
    b.extend(field(104, &rich().encode_to_vec())); // 104: a whole request, as bytes
    b.extend([0xab, 0x06, 0x08, 0x01, 0xb3, 0x06, 0xb4, 0x06, 0xac, 0x06]); // group 101 { group 102 {} }
    b.extend([0xbd, 0x06, 1, 2, 3, 4]); // 103: fixed32
    b
}

#[test]
fn unknown_fields_are_skipped_at_every_level() {
    let mut point = NumberDataPoint {
        attributes: vec![kv("k", s("v"))],
        value: Some(number_data_point::Value::AsDouble(1.0)),
        ..Default::default()
    }
    .encode_to_vec();
    point.splice(0..0, unknown());
    point.extend(unknown());
    let mut metric = field(1, b"m");
    metric.extend(unknown());
    metric.extend(field(5, &[field(1, &point), unknown()].concat()));
    let sm = [unknown(), field(2, &metric)].concat();
    let rm = [field(2, &sm), unknown()].concat();
    let request = [unknown(), field(1, &rm), unknown(), field(1, &rm)].concat();
    let decoded_req = ExportMetricsServiceRequest::decode(request.as_slice()).expect("prost");
    assert_eq!(scanned(&request), decoded(&decoded_req));
    assert_eq!(scanned(&request), (4, 2, 2, 0, 0));
}

#[test]
fn packed_and_unpacked_repeated_fields_count_alike() {
    let point = HistogramDataPoint {
        bucket_counts: vec![1, 2, 3],
        explicit_bounds: vec![1.0, 2.0],
        count: 6,
        ..Default::default()
    };
    let packed = point.encode_to_vec();
    let mut unpacked = Vec::new();
    for c in &point.bucket_counts {
        prost::encoding::fixed64::encode(6, c, &mut unpacked);
    }
    for b in &point.explicit_bounds {
        prost::encoding::double::encode(7, b, &mut unpacked);
    }
    prost::encoding::fixed64::encode(4, &6, &mut unpacked);
    assert_eq!(
        HistogramDataPoint::decode(unpacked.as_slice()).unwrap(),
        point
    );
    let buckets = Buckets {
        offset: 0,
        bucket_counts: vec![1, 300, 70_000, 0],
    };
    let exp_packed = ExponentialHistogramDataPoint {
        positive: Some(buckets.clone()),
        ..Default::default()
    }
    .encode_to_vec();
    let mut b = Vec::new();
    for c in &buckets.bucket_counts {
        prost::encoding::uint64::encode(2, c, &mut b);
    }
    let exp_unpacked = field(8, &b);
    let wrap = |number: u32, point: &[u8]| {
        let metric = [field(1, b"m"), field(number, &field(1, point))].concat();
        field(1, &field(2, &field(2, &metric)))
    };
    let costs: Vec<_> = [
        wrap(9, &packed),
        wrap(9, &unpacked),
        wrap(10, &exp_packed),
        wrap(10, &exp_unpacked),
    ]
    .iter()
    .map(|r| {
        let req = ExportMetricsServiceRequest::decode(r.as_slice()).unwrap();
        assert_eq!(scanned(r), decoded(&req));
        scanned(r).4
    })
    .collect();
    assert_eq!(costs, [5, 5, 4, 4]);
}

/// An attribute whose value is `depth` arrays, one inside the other.
fn nested_arrays(depth: usize) -> Vec<u8> {
    let mut v = s("leaf").encode_to_vec();
    for _ in 0..depth {
        v = field(5, &field(1, &v));
    }
    let kv = [field(1, b"k"), field(2, &v)].concat();
    let point = [field(7, &kv), vec![0x21, 0, 0, 0, 0, 0, 0, 0, 0]].concat();
    let metric = [field(1, b"m"), field(5, &field(1, &point))].concat();
    field(1, &field(2, &field(2, &metric)))
}

#[test]
fn deep_values_are_charged_not_walked() {
    let shallow = nested_arrays(MAX_DEPTH as usize - 2);
    assert!(ExportMetricsServiceRequest::decode(shallow.as_slice()).is_ok());
    assert_eq!(scanned(&shallow).2, 1);
    let deep = nested_arrays(40);
    assert!(ExportMetricsServiceRequest::decode(deep.as_slice()).is_ok());
    let (c, s) = (
        metrics(&deep, &UNBOUNDED).unwrap(),
        metrics(&shallow, &UNBOUNDED).unwrap(),
    );
    assert!(c.attributes > 1, "charged as if full of pairs: {c:?}");
    assert!(c.decoded_bytes > s.decoded_bytes);
    // Far deeper than prost accepts: no stack overflow, bounded work.
    let absurd = nested_arrays(3_000);
    assert!(ExportMetricsServiceRequest::decode(absurd.as_slice()).is_err());
    assert!(metrics(&absurd, &UNBOUNDED).unwrap().attributes > 3_000);
}

#[test]
fn a_group_cannot_hide_what_follows() {
    let mut request = vec![0xab, 0x06, 0xac, 0x06]; // empty group 101
    request.extend(rich().encode_to_vec());
    let req = ExportMetricsServiceRequest::decode(request.as_slice()).expect("prost skips it");
    assert_eq!(scanned(&request), decoded(&req));
}
