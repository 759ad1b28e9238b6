//! Translated points to remote_write series, named and labelled exactly as the pull endpoint
//! exposes them (`dozor_metrics::exposition`): the family name (`_total` and unit suffixes
//! included), the point's labels (`job`, `instance`, promoted resource labels), and for a
//! histogram one `_bucket` series per bound with `le` (cumulative counts, `+Inf` last), `_sum`
//! and `_count`. Each series carries one sample at the point's own timestamp, so a value
//! written here equals the value the pull endpoint showed for that timestamp.

use super::proto::{Label, Sample, TimeSeries};
use dozor_metrics::exposition::{Value, fmt_float};
use dozor_metrics::translate::Point;

/// What [`append`] made of a batch of points.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Converted {
    /// Samples appended.
    pub samples: u64,
    /// Delta points skipped: the pull endpoint shows their running sum, which only the store
    /// knows; remote_write would need cumulative points.
    pub delta: u64,
}

/// Appends one series per sample of `points` to `out`. `times[i]` is point i's
/// `time_unix_nano` (0 or missing: unknown, stamped `fallback_ms`, the time it was received).
/// `skip` says which families are not written (the collector's own names).
pub fn append(
    points: &[Point],
    times: &[u64],
    fallback_ms: i64,
    skip: impl Fn(&str) -> bool,
    out: &mut Vec<TimeSeries>,
) -> Converted {
    let mut c = Converted::default();
    for (i, p) in points.iter().enumerate() {
        if p.delta {
            c.delta += 1;
            continue;
        }
        if skip(&p.family) {
            continue;
        }
        let ms = match times.get(i).copied().unwrap_or(0) {
            0 => fallback_ms,
            ns => (ns / 1_000_000) as i64,
        };
        let before = out.len();
        match &p.value {
            Value::Number(v) => out.push(series(&p.family, &p.labels, None, *v, ms)),
            Value::Histogram {
                bounds,
                counts,
                sum,
                count,
            } => {
                let bucket = format!("{}_bucket", p.family);
                let mut cumulative = 0u64;
                for (i, n) in counts.iter().enumerate() {
                    cumulative += n;
                    let le = bounds
                        .get(i)
                        .map_or_else(|| "+Inf".to_string(), |b| fmt_float(*b));
                    out.push(series(&bucket, &p.labels, Some(le), cumulative as f64, ms));
                }
                if counts.len() <= bounds.len() {
                    // As the exposition does: the count closes a histogram without +Inf.
                    let le = Some("+Inf".to_string());
                    out.push(series(&bucket, &p.labels, le, *count as f64, ms));
                }
                let sum_name = format!("{}_sum", p.family);
                out.push(series(&sum_name, &p.labels, None, *sum, ms));
                let count_name = format!("{}_count", p.family);
                out.push(series(&count_name, &p.labels, None, *count as f64, ms));
            }
        }
        c.samples += (out.len() - before) as u64;
    }
    c
}

/// One series with one sample. Labels with an empty value are left out, as a scrape of the
/// pull endpoint leaves them out.
fn series(
    name: &str,
    labels: &[(String, String)],
    le: Option<String>,
    value: f64,
    ms: i64,
) -> TimeSeries {
    let mut out = Vec::with_capacity(labels.len() + 2);
    out.push(Label {
        name: "__name__".into(),
        value: name.into(),
    });
    out.extend(
        labels
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| Label {
                name: k.clone(),
                value: v.clone(),
            }),
    );
    if let Some(le) = le {
        out.push(Label {
            name: "le".into(),
            value: le,
        });
    }
    out.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    TimeSeries {
        labels: out,
        samples: vec![Sample {
            value,
            timestamp: ms,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dozor_metrics::exposition::Kind;

    fn point(family: &str, kind: Kind, value: Value) -> Point {
        Point {
            family: family.into(),
            kind,
            help: String::new(),
            labels: vec![
                ("A".into(), "upper".into()),
                ("empty".into(), String::new()),
                ("job".into(), "j".into()),
            ],
            value,
            delta: false,
            start_ns: 0,
        }
    }

    fn text(ts: &TimeSeries) -> String {
        let labels: Vec<String> = ts
            .labels
            .iter()
            .map(|l| format!("{}={}", l.name, l.value))
            .collect();
        let s = ts.samples[0];
        format!("{} {}@{}", labels.join(","), s.value, s.timestamp)
    }

    #[test]
    fn histograms_become_buckets_sum_and_count() {
        let h = Value::Histogram {
            bounds: vec![0.1, 1.0],
            counts: vec![1, 2, 3],
            sum: 7.25,
            count: 6,
        };
        let mut delta = point("d_total", Kind::Counter, Value::Number(1.0));
        delta.delta = true;
        let points = [
            point("h_seconds", Kind::Histogram, h),
            point("c_total", Kind::Counter, Value::Number(5.0)),
            delta,
            point("dozor_collector_series", Kind::Gauge, Value::Number(1.0)),
        ];
        let mut out = Vec::new();
        let c = append(
            &points,
            &[2_000_000_000, 0],
            99,
            |f| f.starts_with("dozor_collector_"),
            &mut out,
        );
        assert_eq!(
            c,
            Converted {
                samples: 6,
                delta: 1
            }
        );
        let got: Vec<String> = out.iter().map(text).collect();
        assert_eq!(
            got,
            [
                "A=upper,__name__=h_seconds_bucket,job=j,le=0.1 1@2000",
                "A=upper,__name__=h_seconds_bucket,job=j,le=1 3@2000",
                "A=upper,__name__=h_seconds_bucket,job=j,le=+Inf 6@2000",
                "A=upper,__name__=h_seconds_sum,job=j 7.25@2000",
                "A=upper,__name__=h_seconds_count,job=j 6@2000",
                "A=upper,__name__=c_total,job=j 5@99",
            ]
        );
    }
}
