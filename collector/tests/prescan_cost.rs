//! The prescan's decoded-cost estimate against the heap that decoding and translating a request
//! actually takes, measured with a counting allocator, for hostile and ordinary requests.
//! Regression: #10 (one 8 MiB request of empty data points took RSS from 77 to 800 MiB).
//!
//! `cargo test -p dozor-collector --test prescan_cost -- --nocapture` prints the ratios.

use dozor_collector::loadgen::Workload;
use dozor_collector::receivers::prescan::{self, Bounds, Cost};
use dozor_metrics::otlp::collector::logs::v1::ExportLogsServiceRequest;
use dozor_metrics::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use dozor_metrics::otlp::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList, any_value};
use dozor_metrics::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use dozor_metrics::otlp::metrics::v1::exponential_histogram_data_point::Buckets;
use dozor_metrics::otlp::metrics::v1::*;
use dozor_metrics::otlp::resource::v1::Resource;
use dozor_metrics::sample::{count_points, string_kv};
use dozor_metrics::translate::{Identity, Options, translate};
use prost::Message;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts the bytes held, and the most held since [`reset_peak`].
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = CURRENT.fetch_add(n, Ordering::SeqCst) + n;
    PEAK.fetch_max(now, Ordering::SeqCst);
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are updated. A global
// allocator can only be written with `unsafe`.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, layout, new_size) };
        if !q.is_null() {
            // Counted as if in place: the old block's bytes are released as the new ones are
            // taken (glibc moves large blocks with mremap, without holding both).
            CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
            grew(new_size);
        }
        q
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One test at a time: the counters are global, and a test building its request while
/// another measures would count in the other's peak.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const UNBOUNDED: Bounds = Bounds {
    max_data_points: u64::MAX,
    max_attributes: u64::MAX,
    max_resources: u64::MAX,
};

/// Peak heap above what was held before `f` ran.
fn peak_of<T>(f: impl FnOnce() -> T) -> u64 {
    let before = CURRENT.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    drop(std::hint::black_box(f()));
    (PEAK.load(Ordering::SeqCst) - before) as u64
}

/// Decode and translate, as `Pipeline::receive_metrics` and `store_request` do.
fn decode_and_translate(body: &[u8]) -> impl Sized {
    let options = Options {
        promote: vec!["site".into(), "role".into(), "host.name".into()],
    };
    let request = ExportMetricsServiceRequest::decode(body).expect("valid request");
    let n = count_points(&request) as usize + request.resource_metrics.len();
    let mut points = Vec::with_capacity(n);
    let times: Vec<u64> = Vec::with_capacity(n);
    let mut identities = Vec::new();
    for rm in &request.resource_metrics {
        translate(rm, &options, &mut points);
        identities.push(Identity::of(rm));
    }
    (request, points, times, identities)
}

/// Scans, measures, prints and checks that the estimate does not undercount.
fn check(name: &str, body: &[u8]) -> (Cost, u64) {
    let cost = prescan::metrics(body, &UNBOUNDED).expect("unbounded");
    let measured = peak_of(|| decode_and_translate(body));
    report(name, body, &cost, measured);
    (cost, measured)
}

fn report(name: &str, body: &[u8], cost: &Cost, measured: u64) {
    println!(
        "{name:<34} wire {:>9} B  measured {:>11} B  estimate {:>11} B  ratio {:>5.2}  ({} points, {} attributes)",
        body.len(),
        measured,
        cost.decoded_bytes,
        cost.decoded_bytes as f64 / measured.max(1) as f64,
        cost.data_points,
        cost.attributes,
    );
    assert!(
        cost.decoded_bytes >= measured,
        "{name}: estimate {} below the measured peak {measured}",
        cost.decoded_bytes
    );
}

fn request(resource: Vec<KeyValue>, metrics: Vec<Metric>) -> Vec<u8> {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn agent_resource() -> Vec<KeyValue> {
    vec![
        string_kv("service.name", "dozor-agent"),
        string_kv("service.instance.id", "web-0001"),
        string_kv("host.name", "web-0001.example.internal"),
        string_kv("site", "plant-a"),
    ]
}

fn gauge(name: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        unit: "By".into(),
        description: "Bytes in use.".into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: points,
        })),
        ..Default::default()
    }
}

fn point(attributes: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        time_unix_nano: 1_700_000_000_000_000_000,
        value: Some(number_data_point::Value::AsDouble(42.5)),
        ..Default::default()
    }
}

#[test]
fn prescan_empty_data_points() {
    let _serial = serial();
    let body = request(
        vec![],
        vec![gauge("m", vec![NumberDataPoint::default(); 500_000])],
    );
    check("500k empty number points", &body);
}

#[test]
fn prescan_empty_points_with_values() {
    let _serial = serial();
    let body = request(
        agent_resource(),
        vec![gauge(
            "m",
            vec![
                NumberDataPoint {
                    value: Some(number_data_point::Value::AsInt(0)),
                    ..Default::default()
                };
                200_000
            ],
        )],
    );
    check("200k translated bare points", &body);
}

#[test]
fn prescan_many_attributes_on_one_point() {
    let _serial = serial();
    let same_key: Vec<_> = (0..300_000).map(|_| string_kv("k", "v")).collect();
    check(
        "300k same-name attributes, 1 point",
        &request(agent_resource(), vec![gauge("m", vec![point(same_key)])]),
    );
    // Distinct names make translation quadratic (#10 follow-up), so fewer of them.
    let distinct: Vec<_> = (0..5_000)
        .map(|i| string_kv(&format!("k{i}"), "v"))
        .collect();
    check(
        "5k distinct attributes, 1 point",
        &request(agent_resource(), vec![gauge("m", vec![point(distinct)])]),
    );
}

#[test]
fn prescan_exemplars_with_attributes() {
    let _serial = serial();
    let exemplar = Exemplar {
        filtered_attributes: vec![string_kv("a", "1"), string_kv("b", "2"), string_kv("c", "")],
        value: Some(exemplar::Value::AsDouble(1.0)),
        trace_id: vec![7; 16],
        span_id: vec![8; 8],
        ..Default::default()
    };
    let p = NumberDataPoint {
        exemplars: vec![exemplar; 10],
        ..point(vec![string_kv("x", "y")])
    };
    check(
        "10k points x 10 exemplars",
        &request(agent_resource(), vec![gauge("m", vec![p; 10_000])]),
    );
    // Exemplar attributes are decoded, never translated: their keys are all the cost.
    let long_keys = Exemplar {
        filtered_attributes: (0..2_000)
            .map(|i| string_kv(&format!("{i:0>600}"), ""))
            .collect(),
        ..Default::default()
    };
    let p = NumberDataPoint {
        exemplars: vec![long_keys; 5],
        ..Default::default()
    };
    check(
        "5 exemplars x 2k 600-byte keys",
        &request(vec![], vec![gauge("m", vec![p])]),
    );
}

#[test]
fn prescan_deep_histograms() {
    let _serial = serial();
    let n = 200_000;
    let p = HistogramDataPoint {
        bucket_counts: vec![1; n + 1],
        explicit_bounds: (0..n).map(|i| i as f64).collect(),
        count: n as u64 + 1,
        sum: Some(1.0),
        ..Default::default()
    };
    let histogram = Metric {
        name: "h".into(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: vec![p; 3],
            aggregation_temporality: 2,
        })),
        ..Default::default()
    };
    check(
        "3 histograms x 200k buckets",
        &request(agent_resource(), vec![histogram]),
    );
    let buckets = Buckets {
        offset: 0,
        bucket_counts: vec![1; 1_000_000], // one byte each on the wire, eight decoded
    };
    let exponential = Metric {
        name: "e".into(),
        data: Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![ExponentialHistogramDataPoint {
                positive: Some(buckets),
                ..Default::default()
            }],
            aggregation_temporality: 2,
        })),
        ..Default::default()
    };
    check(
        "1M 1-byte exponential buckets",
        &request(vec![], vec![exponential]),
    );
}

fn kvlist(values: Vec<KeyValue>) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::KvlistValue(KeyValueList { values })),
    }
}

fn array(values: Vec<AnyValue>) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::ArrayValue(ArrayValue { values })),
    }
}

#[test]
fn prescan_nested_values() {
    let _serial = serial();
    // A key-value list of 20k pairs with small arrays, as a label on 20 points: translation
    // writes it with `Debug` for each point.
    let inner = array(vec![AnyValue::default(), AnyValue::default()]);
    let list = kvlist(
        (0..20_000)
            .map(|_| KeyValue {
                key: String::new(),
                value: Some(inner.clone()),
                ..Default::default()
            })
            .collect(),
    );
    let attr = KeyValue {
        key: "l".into(),
        value: Some(list),
        ..Default::default()
    };
    check(
        "20 points x kvlist of 20k pairs",
        &request(
            agent_resource(),
            vec![gauge("m", vec![point(vec![attr]); 20])],
        ),
    );
    // 40 levels of arrays, past the scan's depth (kvlists that deep are past prost's), with
    // empty values at each.
    let mut v = AnyValue::default();
    for _ in 0..40 {
        v = array(vec![v, AnyValue::default(), AnyValue::default()]);
    }
    let attr = KeyValue {
        key: "deep".into(),
        value: Some(v),
        ..Default::default()
    };
    check(
        "40-deep arrays on 100 points",
        &request(vec![], vec![gauge("m", vec![point(vec![attr]); 100])]),
    );
    // Doubles print long as labels (1e300 is 301 digits).
    let doubles: Vec<_> = (0..1_000)
        .map(|i| KeyValue {
            key: format!("d{i}"),
            value: Some(AnyValue {
                value: Some(any_value::Value::DoubleValue(1e300)),
            }),
            ..Default::default()
        })
        .collect();
    check(
        "1k 1e300 double attributes x 10 pts",
        &request(vec![], vec![gauge("m", vec![point(doubles); 10])]),
    );
}

/// What legitimate traffic looks like must not be charged absurdly more than it costs, or the
/// limiter refuses it.
#[test]
fn prescan_ordinary_agent_requests_are_not_overcharged() {
    let _serial = serial();
    let points: Vec<_> = (0..1_000)
        .map(|i| {
            point(vec![
                string_kv("cpu.logical_number", &(i % 16).to_string()),
                string_kv("cpu.mode", "user"),
                string_kv("system.device", &format!("sd{}", i % 7)),
                string_kv("network.io.direction", "receive"),
                string_kv("host.cpu.model", "Intel(R) Xeon(R)"),
            ])
        })
        .collect();
    let metrics: Vec<_> = points
        .chunks(50)
        .enumerate()
        .map(|(i, p)| gauge(&format!("system.metric_{i}.usage"), p.to_vec()))
        .collect();
    let (cost, measured) = check(
        "1000 gauge points x 5 labels",
        &request(agent_resource(), metrics),
    );
    assert!(cost.decoded_bytes <= 4 * measured + 64 * 1024, "{cost:?}");

    let loadgen = Workload {
        agents: 1,
        series_per_agent: 1_000,
        batch: 1_000,
    };
    let body = loadgen.requests(1, 1)[0].encode_to_vec();
    let (cost, measured) = check("loadgen agent, 1000 points", &body);
    assert!(cost.decoded_bytes <= 4 * measured + 64 * 1024, "{cost:?}");
}

#[test]
fn prescan_logs_decoding() {
    let _serial = serial();
    let record = LogRecord {
        body: Some(kvlist(vec![
            string_kv("msg", "connection reset by peer"),
            KeyValue {
                key: "tags".into(),
                value: Some(array(vec![AnyValue::default(); 4])),
                ..Default::default()
            },
        ])),
        attributes: vec![string_kv("level", "warn"), string_kv("logger", "net")],
        severity_text: "WARN".into(),
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        ..Default::default()
    };
    for (name, records) in [
        ("50k log records", vec![record; 50_000]),
        (
            "200k empty log records",
            vec![LogRecord::default(); 200_000],
        ),
    ] {
        let body = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: agent_resource(),
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec();
        let cost = prescan::logs(&body, &UNBOUNDED).expect("unbounded");
        let measured =
            peak_of(|| ExportLogsServiceRequest::decode(body.as_slice()).expect("valid"));
        report(name, &body, &cost, measured);
    }
}

#[test]
fn prescan_traces_decoding() {
    use dozor_metrics::otlp::collector::trace::v1::ExportTraceServiceRequest;
    use dozor_metrics::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
    let _serial = serial();
    let full = Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        parent_span_id: vec![3; 8],
        trace_state: "k=v".into(),
        name: "GET /orders/{id}".into(),
        kind: 2,
        start_time_unix_nano: 1,
        end_time_unix_nano: 2,
        attributes: vec![
            string_kv("http.request.method", "GET"),
            string_kv("http.route", "/orders/{id}"),
            string_kv("url.path", "/orders/17"),
        ],
        events: vec![
            span::Event {
                name: "exception".into(),
                attributes: vec![string_kv("exception.message", "boom")],
                ..Default::default()
            };
            2
        ],
        links: vec![span::Link {
            trace_id: vec![4; 16],
            span_id: vec![5; 8],
            attributes: vec![string_kv("k", "v")],
            ..Default::default()
        }],
        status: Some(Status {
            message: "error".into(),
            code: 2,
        }),
        ..Default::default()
    };
    let empty_events = Span {
        events: vec![span::Event::default(); 8],
        links: vec![span::Link::default(); 8],
        ..Default::default()
    };
    for (name, spans) in [
        ("20k full spans", vec![full; 20_000]),
        ("200k empty spans", vec![Span::default(); 200_000]),
        (
            "20k spans of empty events, links",
            vec![empty_events; 20_000],
        ),
    ] {
        let body = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: agent_resource(),
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec();
        let cost = prescan::traces(&body, &UNBOUNDED).expect("unbounded");
        let measured =
            peak_of(|| ExportTraceServiceRequest::decode(body.as_slice()).expect("valid"));
        report(name, &body, &cost, measured);
        assert!(
            cost.decoded_bytes <= 4 * measured + 64 * 1024,
            "{name}: {cost:?}"
        );
    }
}
