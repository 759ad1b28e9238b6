//! What integrations record, and how recorded samples become one OTLP export request.

use crate::catalogue::{self, Instrument, MetricDef};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

/// One recorded value of a catalogue metric.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The declaration this value belongs to.
    pub metric: &'static MetricDef,
    /// Attribute values, keyed by the declared attribute keys.
    pub attributes: Vec<(&'static str, String)>,
    /// The value, already in the declared unit.
    pub value: f64,
    /// Since when a counter has counted: its OTLP `start_time_unix_nano`.
    pub since: Since,
    /// The distribution of a histogram (`value` is then its count); `None` for numbers.
    pub histogram: Option<Box<Buckets>>,
}

/// One histogram data point: explicit bounds and the count in each bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct Buckets {
    /// Upper bounds, increasing; the last bucket (above the last bound) is implicit.
    pub bounds: &'static [f64],
    /// Observations per bucket, not cumulative: one more entry than `bounds`.
    pub counts: Vec<u64>,
    /// Sum of the observations.
    pub sum: f64,
}

impl Buckets {
    /// An empty distribution over `bounds`.
    pub fn new(bounds: &'static [f64]) -> Buckets {
        Buckets {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
        }
    }

    /// Adds one observation; a NaN is not an observation.
    pub fn observe(&mut self, v: f64) {
        if v.is_nan() {
            return;
        }
        // Prometheus buckets are `le`: a value equal to a bound belongs to that bucket.
        let i = self.bounds.partition_point(|b| *b < v);
        self.counts[i] += 1;
        self.sum += v;
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// Since when a counter has counted. A wrong start time is worse than none: a consumer that
/// turns it into a zero sample (Prometheus's created timestamps) would read a counter of the
/// kernel's, a database's or a state file's as having risen by its whole value at that time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Since {
    /// The agent's start: counters the agent keeps in memory (its own, `sql`, `demo`, `tcp_info`).
    Agent,
    /// Unknown (sent as 0): counters read from a source that counts on its own (the kernel,
    /// cgroups, PostgreSQL, MySQL, the user's queries).
    Unknown,
    /// A known time, Unix nanoseconds (the order flow's state file's creation).
    At(u64),
}

impl Since {
    /// What a catalogue metric counts from when nothing else is said: the agent's start for
    /// counters the agent keeps itself, unknown for those it reads.
    fn default_for(metric: &MetricDef) -> Since {
        match metric.emitter {
            "agent" | "demo" | "sql" | "http" | "http_capture" | "probes" | "tcp_info" => {
                Since::Agent
            }
            _ => Since::Unknown,
        }
    }
}

/// Collects the samples of one integration run.
#[derive(Debug, Default)]
pub struct Recorder {
    samples: Vec<Sample>,
}

impl Recorder {
    /// A recorder with nothing in it.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one value of a catalogue metric, with one value per declared attribute key, in
    /// declared order: a call with a missing or an extra value does not build, nor does one with
    /// a metric that is not in the catalogue.
    ///
    /// ```
    /// use dozor_metrics::catalogue::host;
    /// let mut rec = dozor_metrics::sample::Recorder::new();
    /// rec.record(&host::CPU_TIME, 1.5, &["0", "user"]); // cpu, cpu.mode
    /// ```
    ///
    /// ```compile_fail
    /// # use dozor_metrics::catalogue::host;
    /// # let mut rec = dozor_metrics::sample::Recorder::new();
    /// rec.record(&host::CPU_TIME, 1.5, &["user"]); // cpu is missing
    /// ```
    ///
    /// ```compile_fail
    /// # use dozor_metrics::{Instrument, sample::DynamicMetric};
    /// # let mut rec = dozor_metrics::sample::Recorder::new();
    /// let m = DynamicMetric::declare("sql_x", "x.", Instrument::Gauge, &[]).unwrap();
    /// rec.record(m.def(), 1.0, &[]); // user metrics go through record_dynamic
    /// ```
    pub fn record<const N: usize>(
        &mut self,
        metric: &'static catalogue::Metric<N>,
        value: f64,
        attributes: &[&str; N],
    ) {
        self.push(metric.def(), value, attributes, Since::default_for(metric));
    }

    /// [`Recorder::record`] for a counter whose start the integration knows (`Some`, Unix
    /// nanoseconds) or knows to be unknown (`None`).
    pub fn record_since<const N: usize>(
        &mut self,
        metric: &'static catalogue::Metric<N>,
        value: f64,
        attributes: &[&str; N],
        since: Option<u64>,
    ) {
        let since = since.map_or(Since::Unknown, Since::At);
        self.push(metric.def(), value, attributes, since);
    }

    /// Records the distribution of a histogram, cumulative since the agent's start.
    pub fn record_histogram<const N: usize>(
        &mut self,
        metric: &'static catalogue::Metric<N>,
        buckets: &Buckets,
        attributes: &[&str; N],
    ) {
        debug_assert!(
            metric.instrument == Instrument::Histogram,
            "{}: not a histogram",
            metric.name
        );
        debug_assert_eq!(buckets.counts.len(), buckets.bounds.len() + 1);
        let def = metric.def();
        self.samples.push(Sample {
            metric: def,
            attributes: attribute_pairs(def, attributes),
            value: buckets.count() as f64,
            since: Since::default_for(def),
            histogram: Some(Box::new(buckets.clone())),
        });
    }

    /// Records one value of a metric declared from configuration; attribute values in the
    /// order of its declared keys.
    pub fn record_dynamic(&mut self, metric: DynamicMetric, value: f64, attributes: &[&str]) {
        // The user's counters come from their database, which counts on its own.
        self.push(metric.0, value, attributes, Since::Unknown);
    }

    fn push(&mut self, metric: &'static MetricDef, value: f64, attributes: &[&str], since: Since) {
        debug_assert_eq!(
            attributes.len(),
            metric.attributes.len(),
            "{}: attributes {:?} do not match the declared {:?}",
            metric.name,
            attributes,
            metric.attributes
        );
        debug_assert!(
            metric.instrument != Instrument::Histogram,
            "{}: histograms are not recorded as numbers",
            metric.name
        );
        if !value.is_finite() {
            return;
        }
        self.samples.push(Sample {
            metric,
            attributes: attribute_pairs(metric, attributes),
            value,
            since,
            histogram: None,
        });
    }

    /// The samples recorded so far.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// Takes the samples, leaving the recorder empty.
    pub fn take(&mut self) -> Vec<Sample> {
        std::mem::take(&mut self.samples)
    }
}

fn attribute_pairs(metric: &MetricDef, values: &[&str]) -> Vec<(&'static str, String)> {
    metric
        .attributes
        .iter()
        .zip(values)
        .map(|(k, v)| (*k, (*v).to_string()))
        .collect()
}

/// A metric whose name comes from configuration rather than the catalogue: the `sql`
/// integration's user-defined metrics. It can only be declared under a namespace the catalogue
/// reserves for it ([`crate::catalogue::sql::USER_PREFIX`]), with a Prometheus-safe name that no
/// catalogue metric has, so the catalogue stays the single declaration of every static name.
/// Declared once at start-up; the declaration lives as long as the process.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DynamicMetric(&'static MetricDef);

impl DynamicMetric {
    /// Declares `name` (`sql_orders_open`) as a gauge or counter with attribute keys `labels`;
    /// the error says what is wrong with the name or the labels.
    pub fn declare(
        name: &str,
        description: &str,
        instrument: Instrument,
        labels: &[String],
    ) -> Result<DynamicMetric, String> {
        check_dynamic_name(name)?;
        if !matches!(instrument, Instrument::Gauge | Instrument::Counter) {
            return Err("must be a gauge or a counter".into());
        }
        for (i, l) in labels.iter().enumerate() {
            check_label(l)?;
            if labels[..i].contains(l) {
                return Err(format!("label {l} is repeated"));
            }
        }
        let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
        let attributes: Vec<&'static str> = labels.iter().map(|l| leak(l)).collect();
        let def = MetricDef {
            name: leak(name),
            description: leak(description),
            unit: "",
            instrument,
            attributes: Box::leak(attributes.into_boxed_slice()),
            source: "a user-defined query of the sql integration",
            emitter: crate::catalogue::sql::USER_EMITTER,
        };
        Ok(DynamicMetric(Box::leak(Box::new(def))))
    }

    /// The declaration.
    pub fn def(&self) -> &'static MetricDef {
        self.0
    }
}

/// A user metric name: `[a-z0-9_]` under the reserved prefix, not ending in `_`.
pub fn check_dynamic_name(name: &str) -> Result<(), String> {
    let prefix = crate::catalogue::sql::USER_PREFIX;
    if !name.starts_with(prefix) || name.len() == prefix.len() {
        return Err(format!(
            "must start with {prefix} and go on (e.g. {prefix}orders_open)"
        ));
    }
    if name.len() > 120
        || name.ends_with('_')
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(
            "must be lower-case letters, digits and _, at most 120 characters, not ending in _"
                .into(),
        );
    }
    if crate::catalogue::all().any(|m| m.name == name || m.prometheus_name() == name) {
        return Err("is a catalogue metric".into());
    }
    Ok(())
}

/// Labels the collector or Prometheus set themselves, refused as user labels.
const RESERVED_LABELS: &[&str] = &["job", "instance", "site", "role", "desk", "le", "quantile"];

/// A user label: a Prometheus label name that neither Prometheus nor dozor set.
pub fn check_label(label: &str) -> Result<(), String> {
    let ok = !label.is_empty()
        && label.len() <= 63
        && label.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && !label.starts_with("__")
        && label
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        return Err(format!(
            "label {label:?} must be a lower-case column name (letters, digits, _; alias the column: AS {})",
            if label.is_empty() { "status" } else { "name" }
        ));
    }
    if RESERVED_LABELS.contains(&label) {
        return Err(format!(
            "label {label} is set by dozor or Prometheus: alias the column (AS {label}_name)"
        ));
    }
    Ok(())
}

/// The samples of one scope (an integration, or the agent itself) collected at one time.
#[derive(Clone, Debug)]
pub struct ScopeBatch {
    /// Instrumentation scope name, e.g. `dozor.integration.host`.
    pub scope: String,
    /// Unix time of the collection, in nanoseconds.
    pub time_unix_nano: u64,
    /// The samples.
    pub samples: Vec<Sample>,
}

/// Builds one OTLP request: one resource, a scope per batch, a metric per declaration.
///
/// `start_time_unix_nano` is the start of the counters the agent keeps itself (the agent's
/// start); each sample says whether it is one of them ([`Since`]).
pub fn to_request(
    resource: &[(String, String)],
    batches: &[ScopeBatch],
    start_time_unix_nano: u64,
) -> ExportMetricsServiceRequest {
    let scope_metrics = batches
        .iter()
        .map(|batch| ScopeMetrics {
            scope: Some(InstrumentationScope {
                name: batch.scope.clone(),
                version: env!("CARGO_PKG_VERSION").into(),
                ..Default::default()
            }),
            metrics: metrics_of(batch, start_time_unix_nano),
            schema_url: String::new(),
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource.iter().map(|(k, v)| string_kv(k, v)).collect(),
                ..Default::default()
            }),
            scope_metrics,
            schema_url: String::new(),
        }],
    }
}

fn metrics_of(batch: &ScopeBatch, start: u64) -> Vec<Metric> {
    let mut metrics: Vec<Metric> = Vec::new();
    let mut index: Vec<(*const MetricDef, usize)> = Vec::new();
    for sample in &batch.samples {
        let key = sample.metric as *const MetricDef;
        let i = match index.iter().find(|(k, _)| *k == key) {
            Some((_, i)) => *i,
            None => {
                metrics.push(empty_metric(sample.metric));
                index.push((key, metrics.len() - 1));
                metrics.len() - 1
            }
        };
        let attributes = sample
            .attributes
            .iter()
            .map(|(k, v)| string_kv(k, v))
            .collect();
        let start_time_unix_nano = match (sample.metric.instrument, sample.since) {
            (Instrument::Gauge, _) | (_, Since::Unknown) => 0,
            (_, Since::Agent) => start,
            (_, Since::At(t)) => t,
        };
        match (&mut metrics[i].data, &sample.histogram) {
            (Some(metric::Data::Histogram(h)), Some(b)) => h.data_points.push(HistogramDataPoint {
                attributes,
                start_time_unix_nano,
                time_unix_nano: batch.time_unix_nano,
                count: b.count(),
                sum: Some(b.sum),
                bucket_counts: b.counts.clone(),
                explicit_bounds: b.bounds.to_vec(),
                ..Default::default()
            }),
            (Some(metric::Data::Gauge(g)), None) => g.data_points.push(NumberDataPoint {
                attributes,
                start_time_unix_nano,
                time_unix_nano: batch.time_unix_nano,
                value: Some(number_data_point::Value::AsDouble(sample.value)),
                ..Default::default()
            }),
            (Some(metric::Data::Sum(s)), None) => s.data_points.push(NumberDataPoint {
                attributes,
                start_time_unix_nano,
                time_unix_nano: batch.time_unix_nano,
                value: Some(number_data_point::Value::AsDouble(sample.value)),
                ..Default::default()
            }),
            _ => {}
        }
    }
    metrics
}

fn empty_metric(def: &MetricDef) -> Metric {
    let data = match def.instrument {
        Instrument::Gauge => metric::Data::Gauge(Gauge {
            data_points: vec![],
        }),
        Instrument::Histogram => metric::Data::Histogram(Histogram {
            data_points: vec![],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        }),
        Instrument::Counter | Instrument::UpDownCounter => metric::Data::Sum(Sum {
            data_points: vec![],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: def.instrument == Instrument::Counter,
        }),
    };
    Metric {
        name: def.name.into(),
        description: def.description.into(),
        unit: def.unit.into(),
        metadata: vec![],
        data: Some(data),
    }
}

/// A string-valued OTLP attribute.
pub fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// Number of data points in a request (histogram points count once).
pub fn count_points(req: &ExportMetricsServiceRequest) -> u64 {
    req.resource_metrics.iter().map(resource_points).sum()
}

/// Number of data points of one resource (histogram points count once).
pub fn resource_points(rm: &opentelemetry_proto::tonic::metrics::v1::ResourceMetrics) -> u64 {
    let mut n = 0u64;
    for sm in &rm.scope_metrics {
        for m in &sm.metrics {
            n += match &m.data {
                Some(metric::Data::Gauge(d)) => d.data_points.len(),
                Some(metric::Data::Sum(d)) => d.data_points.len(),
                Some(metric::Data::Histogram(d)) => d.data_points.len(),
                Some(metric::Data::ExponentialHistogram(d)) => d.data_points.len(),
                Some(metric::Data::Summary(d)) => d.data_points.len(),
                None => 0,
            } as u64;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::host;

    #[test]
    fn dynamic_metrics_are_declared_under_the_reserved_prefix_only() {
        let labels = vec!["status".to_string()];
        let m =
            DynamicMetric::declare("sql_orders", "Orders.", Instrument::Counter, &labels).unwrap();
        assert_eq!(m.def().prometheus_name(), "sql_orders_total");
        assert_eq!(m.def().emitter, "sql");
        let mut r = Recorder::new();
        r.record_dynamic(m, 3.0, &["open"]);
        r.record(&host::UPTIME, 5.0, &[]);
        let batch = ScopeBatch {
            scope: "s".into(),
            time_unix_nano: 7,
            samples: r.take(),
        };
        let req = to_request(&[], &[batch], 3);
        let metrics = &req.resource_metrics[0].scope_metrics[0].metrics;
        assert_eq!(metrics[0].name, "sql_orders");
        assert_eq!(metrics[0].description, "Orders.");

        let gauge = |name: &str, labels: &[&str]| {
            let labels: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
            DynamicMetric::declare(name, "x.", Instrument::Gauge, &labels).map(|_| ())
        };
        for bad in [
            "orders",
            "sql_",
            "sql_Orders",
            "sql_a-b",
            "sql_a_",
            "system_cpu_time",
        ] {
            assert!(gauge(bad, &[]).is_err(), "{bad}");
        }
        assert!(gauge("sql_ok_1", &["status", "_x"]).is_ok());
        for bad in [&["instance"][..], &["Status"], &["__x"], &["a", "a"], &[""]] {
            assert!(gauge("sql_ok", bad).is_err(), "{bad:?}");
        }
        let hist = DynamicMetric::declare("sql_h", "x.", Instrument::Histogram, &[]);
        assert!(hist.is_err());
    }

    #[test]
    fn samples_of_one_metric_share_one_otlp_metric() {
        let mut r = Recorder::new();
        r.record(&host::CPU_TIME, 1.0, &["0", "user"]);
        r.record(&host::UPTIME, 5.0, &[]);
        r.record(&host::CPU_TIME, 2.0, &["0", "system"]);
        r.record(&host::UPTIME, f64::NAN, &[]);
        let batch = ScopeBatch {
            scope: "s".into(),
            time_unix_nano: 7,
            samples: r.take(),
        };
        let req = to_request(&[("host.name".into(), "h".into())], &[batch], 3);
        assert_eq!(count_points(&req), 3);
        let metrics = &req.resource_metrics[0].scope_metrics[0].metrics;
        assert_eq!(metrics.len(), 2);
        assert_eq!(metrics[0].name, "system.cpu.time");
        let Some(metric::Data::Sum(sum)) = &metrics[0].data else {
            panic!("not a sum")
        };
        assert!(sum.is_monotonic);
        assert_eq!(sum.data_points.len(), 2);
        // The kernel counts CPU time since boot, not since the agent started: unknown here.
        assert_eq!(sum.data_points[1].start_time_unix_nano, 0);
        assert_eq!(sum.data_points[1].time_unix_nano, 7);
    }

    /// Regression: #17. Start times only where they are true: the agent's own counters since
    /// its start, a counter with a known start since then, gauges none.
    #[test]
    fn start_times_are_the_counters_own() {
        let mut r = Recorder::new();
        r.record(&crate::catalogue::agent::SCRAPES, 1.0, &["host"]);
        r.record_since(&crate::catalogue::flow::LOST, 2.0, &["f", "s"], Some(11));
        r.record_since(&crate::catalogue::flow::PASSED, 2.0, &["f", "s"], None);
        r.record(&crate::catalogue::agent::SCRAPE_DURATION, 0.1, &["host"]);
        let batch = ScopeBatch {
            scope: "s".into(),
            time_unix_nano: 7,
            samples: r.take(),
        };
        let req = to_request(&[], &[batch], 3);
        let starts: Vec<(String, u64)> = req.resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .map(|m| {
                let start = match &m.data {
                    Some(metric::Data::Sum(s)) => s.data_points[0].start_time_unix_nano,
                    Some(metric::Data::Gauge(g)) => g.data_points[0].start_time_unix_nano,
                    _ => panic!("{m:?}"),
                };
                (m.name.clone(), start)
            })
            .collect();
        let want = [
            ("dozor.agent.scrapes", 3),
            ("dozor.flow.stage.lost", 11),
            ("dozor.flow.stage.passed", 0),
            ("dozor.agent.scrape.duration", 0),
        ];
        assert_eq!(starts, want.map(|(n, s)| (n.to_string(), s)));
    }

    #[test]
    fn histograms_reach_the_exposition_with_le_buckets() {
        static BOUNDS: &[f64] = &[0.1, 1.0];
        let mut b = Buckets::new(BOUNDS);
        for v in [0.05, 0.1, 0.5, 1.0, 7.0, f64::NAN] {
            b.observe(v);
        }
        // A value equal to a bound is in that bound's bucket (`le`); NaN is not counted.
        assert_eq!(b.counts, vec![2, 2, 1]);
        assert_eq!(b.count(), 5);
        let mut r = Recorder::new();
        let attrs = ["shop", "GET", "/orders/{id}", "200", "10.0.0.1", "8080"];
        r.record_histogram(&crate::catalogue::http::SERVER_DURATION, &b, &attrs);
        let batch = ScopeBatch {
            scope: "s".into(),
            time_unix_nano: 7_000_000_000,
            samples: r.take(),
        };
        let req = to_request(&[], &[batch], 3);
        let mut points = Vec::new();
        crate::translate::translate(&req.resource_metrics[0], &Default::default(), &mut points);
        let mut text = String::new();
        crate::exposition::encode(
            &crate::translate::into_families(points),
            crate::exposition::Format::Text,
            &mut text,
        );
        let labels = "http_request_method=\"GET\",http_response_status_code=\"200\",http_route=\"/orders/{id}\",server_address=\"10.0.0.1\",server_port=\"8080\",service_name=\"shop\"";
        for line in [
            format!("http_server_request_duration_seconds_bucket{{{labels},le=\"0.1\"}} 2"),
            format!("http_server_request_duration_seconds_bucket{{{labels},le=\"1\"}} 4"),
            format!("http_server_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} 5"),
            format!("http_server_request_duration_seconds_count{{{labels}}} 5"),
            format!("http_server_request_duration_seconds_sum{{{labels}}} 8.65"),
        ] {
            assert!(text.contains(&line), "{line} not in\n{text}");
        }
    }
}
