//! Prometheus exposition: the text format 0.0.4 and OpenMetrics 1.0.
//!
//! The collector exposes series it did not create, so neither the `prometheus` nor the
//! `prometheus-client` crate fits (both are instrumentation libraries with static registries;
//! see `docs/adr/0002-prometheus-exposition.md`). This encoder is small and is checked by
//! `promtool check metrics` and by a real Prometheus scraping it in the end-to-end test.

use std::fmt::Write;

/// Content type of the Prometheus text format.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Content type of OpenMetrics text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Prometheus metric type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Monotonic counter; its family name ends in `_total`.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Cumulative buckets, sum and count.
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// The value of one series.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Counter or gauge value.
    Number(f64),
    /// Histogram with explicit bounds; `counts` has one more entry than `bounds` (the +Inf bucket)
    /// and is per bucket, not cumulative.
    Histogram {
        /// Upper bounds, ascending.
        bounds: Vec<f64>,
        /// Count per bucket, `bounds.len() + 1` entries.
        counts: Vec<u64>,
        /// Sum of observations.
        sum: f64,
        /// Number of observations.
        count: u64,
    },
}

/// One series: sorted label pairs and a value.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Label pairs, sorted by name, names already valid Prometheus label names.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: Value,
    /// When a counter or histogram started counting, Unix seconds: written as its OpenMetrics
    /// `_created` sample (the text format 0.0.4 has none).
    pub created: Option<f64>,
}

/// A metric family: name, type, help, unit and its series.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    /// Family name; for counters it ends in `_total`.
    pub name: String,
    /// Metric type.
    pub kind: Kind,
    /// Help text.
    pub help: String,
    /// Series, in the order they are written.
    pub series: Vec<Series>,
}

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// Picks the format a scraper asked for in its `Accept` header.
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    /// The `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => TEXT_CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }
}

/// Writes families in the given format. Families should be sorted by name by the caller.
pub fn encode(families: &[Family], format: Format, out: &mut String) {
    for family in families {
        encode_family(family, format, out);
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
}

/// Writes one family (without the OpenMetrics `# EOF` terminator, which [`encode`] adds once).
pub fn encode_family(family: &Family, format: Format, out: &mut String) {
    // OpenMetrics names the counter family without `_total` and its sample with it.
    if family.series.is_empty() {
        return;
    }
    let family_name = match (format, family.kind) {
        (Format::OpenMetrics, Kind::Counter) => {
            family.name.strip_suffix("_total").unwrap_or(&family.name)
        }
        _ => &family.name,
    };
    let _ = write!(out, "# HELP {family_name} ");
    escape_help(&family.help, out);
    out.push('\n');
    let _ = writeln!(out, "# TYPE {family_name} {}", family.kind.as_str());
    for series in &family.series {
        match &series.value {
            Value::Number(v) => {
                let sample_name = match (format, family.kind) {
                    (Format::OpenMetrics, Kind::Counter) => format!("{family_name}_total"),
                    _ => family.name.clone(),
                };
                write_sample(out, &sample_name, &series.labels, None, *v);
                write_created(out, format, family, family_name, series);
            }
            Value::Histogram {
                bounds,
                counts,
                sum,
                count,
            } => {
                let bucket = format!("{family_name}_bucket");
                let mut cumulative = 0u64;
                for (i, c) in counts.iter().enumerate() {
                    cumulative += c;
                    let le = bounds
                        .get(i)
                        .map_or_else(|| "+Inf".to_string(), |b| fmt_float(*b));
                    write_sample(out, &bucket, &series.labels, Some(&le), cumulative as f64);
                }
                if counts.len() <= bounds.len() {
                    // Malformed input without the +Inf bucket: the count still closes the histogram.
                    write_sample(out, &bucket, &series.labels, Some("+Inf"), *count as f64);
                }
                write_sample(
                    out,
                    &format!("{family_name}_sum"),
                    &series.labels,
                    None,
                    *sum,
                );
                write_sample(
                    out,
                    &format!("{family_name}_count"),
                    &series.labels,
                    None,
                    *count as f64,
                );
                write_created(out, format, family, family_name, series);
            }
        }
    }
}

/// The OpenMetrics `_created` sample of a counter or histogram series, when it has one.
fn write_created(out: &mut String, format: Format, family: &Family, name: &str, series: &Series) {
    if let (Format::OpenMetrics, Kind::Counter | Kind::Histogram, Some(created)) =
        (format, family.kind, series.created)
    {
        write_sample(
            out,
            &format!("{name}_created"),
            &series.labels,
            None,
            created,
        );
    }
}

fn write_sample(
    out: &mut String,
    name: &str,
    labels: &[(String, String)],
    le: Option<&str>,
    value: f64,
) {
    out.push_str(name);
    if !labels.is_empty() || le.is_some() {
        out.push('{');
        let mut first = true;
        for (k, v) in labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(le.map(|le| ("le", le)))
        {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(k);
            out.push_str("=\"");
            escape_label(v, out);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(&fmt_float(value));
    out.push('\n');
}

/// Formats a sample value the way Prometheus parses it.
pub fn fmt_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else if v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn escape_label(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family(kind: Kind, name: &str, value: Value) -> Family {
        Family {
            name: name.into(),
            kind,
            help: "Help with \\ and\nnewline.".into(),
            series: vec![Series {
                labels: vec![("a".into(), "x\"y\\z\n".into())],
                value,
                created: None,
            }],
        }
    }

    /// Regression: #17. Counters and histograms carry their start as `_created` in OpenMetrics
    /// only; gauges never.
    #[test]
    fn created_samples_in_openmetrics_only() {
        let mut families = vec![
            family(Kind::Counter, "c_total", Value::Number(3.0)),
            family(Kind::Gauge, "g", Value::Number(1.0)),
        ];
        for f in &mut families {
            f.series[0].created = Some(1_700_000_000.5);
        }
        let mut om = String::new();
        encode(&families, Format::OpenMetrics, &mut om);
        assert!(
            om.contains("\nc_created{a=\"x\\\"y\\\\z\\n\"} 1700000000.5\n"),
            "{om}"
        );
        assert!(!om.contains("g_created"), "{om}");
        let mut text = String::new();
        encode(&families, Format::Text, &mut text);
        assert!(!text.contains("_created"), "{text}");
    }

    #[test]
    fn text_counter_and_escaping() {
        let mut out = String::new();
        encode(
            &[family(Kind::Counter, "c_total", Value::Number(1.5))],
            Format::Text,
            &mut out,
        );
        assert_eq!(
            out,
            "# HELP c_total Help with \\\\ and\\nnewline.\n# TYPE c_total counter\nc_total{a=\"x\\\"y\\\\z\\n\"} 1.5\n"
        );
    }

    #[test]
    fn openmetrics_counter_family_drops_total() {
        let mut out = String::new();
        encode(
            &[family(Kind::Counter, "c_total", Value::Number(2.0))],
            Format::OpenMetrics,
            &mut out,
        );
        assert!(out.contains("# TYPE c counter\n"), "{out}");
        assert!(out.contains("\nc_total{"), "{out}");
        assert!(out.ends_with("# EOF\n"));
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let mut out = String::new();
        let v = Value::Histogram {
            bounds: vec![0.1, 1.0],
            counts: vec![1, 2, 3],
            sum: 7.25,
            count: 6,
        };
        encode(
            &[family(Kind::Histogram, "h_seconds", v)],
            Format::Text,
            &mut out,
        );
        assert!(
            out.contains("h_seconds_bucket{a=\"x\\\"y\\\\z\\n\",le=\"0.1\"} 1\n"),
            "{out}"
        );
        assert!(out.contains("le=\"1\"} 3\n"), "{out}");
        assert!(out.contains("le=\"+Inf\"} 6\n"), "{out}");
        assert!(
            out.contains("h_seconds_sum{a=\"x\\\"y\\\\z\\n\"} 7.25\n"),
            "{out}"
        );
        assert!(
            out.contains("h_seconds_count{a=\"x\\\"y\\\\z\\n\"} 6\n"),
            "{out}"
        );
    }

    #[test]
    fn floats() {
        assert_eq!(fmt_float(3.0), "3");
        assert_eq!(fmt_float(0.25), "0.25");
        assert_eq!(fmt_float(f64::NAN), "NaN");
        assert_eq!(fmt_float(f64::INFINITY), "+Inf");
        assert_eq!(fmt_float(1e20), "100000000000000000000");
    }

    #[test]
    fn negotiation() {
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
            )),
            Format::OpenMetrics
        );
    }
}
