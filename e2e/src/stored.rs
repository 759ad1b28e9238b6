//! Raw samples read back from the stores that remote_write fills, and what a counter of the
//! agents' `demo` integration must look like there.
//!
//! A 204 from a store proves nothing (VictoriaMetrics answers 204 and silently drops NaN,
//! samples past its retention and samples more than two days ahead), and a range query hides
//! holes (it fills each step from the lookback window). So the samples are read back raw:
//! VictoriaMetrics' `/api/v1/export` after `/internal/force_flush`, Prometheus' instant query of
//! a `[range]` selector, which returns every stored sample in the range.

use dozor_testkit::{http_get, url_encode};
use std::collections::BTreeMap;

/// One series' raw samples: its labels and `(timestamp in ms, value)` in stored order.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Every label, `__name__` included.
    pub labels: BTreeMap<String, String>,
    /// `(timestamp in milliseconds, value)`, as the store returned them.
    pub samples: Vec<(i64, f64)>,
}

impl Series {
    /// The value of label `name`, or "".
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }
}

/// Every raw sample of the series matching `selector` in the VictoriaMetrics at `addr`, after
/// flushing what it holds in memory so that `/api/v1/export` sees all of it.
pub fn victoria_metrics(addr: &str, selector: &str) -> Result<Vec<Series>, String> {
    let (status, body) = http_get(addr, "/internal/force_flush").map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("force_flush: {status} {body}"));
    }
    let path = format!("/api/v1/export?match[]={}", url_encode(selector));
    let (status, body) = http_get(addr, &path).map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("export: {status} {body}"));
    }
    Ok(dozor_testkit::victoriametrics::parse_export(&body)
        .into_iter()
        .map(|(labels, samples)| Series { labels, samples })
        .collect())
}

/// Every raw sample of the series matching `selector` in the last `range` (a PromQL
/// duration, e.g. `30m`) in the Prometheus at `addr`.
pub fn prometheus(addr: &str, selector: &str, range: &str) -> Result<Vec<Series>, String> {
    let expr = format!("{selector}[{range}]");
    let (status, body) = http_get(addr, &format!("/api/v1/query?query={}", url_encode(&expr)))
        .map_err(|e| e.to_string())?;
    let v: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("query {expr}: {status} {body}: {e}"))?;
    if v["status"] != "success" {
        return Err(format!("query {expr}: {v}"));
    }
    let mut out = Vec::new();
    for s in v["data"]["result"].as_array().into_iter().flatten() {
        let samples = s["values"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                let t = p[0].as_f64().unwrap_or(f64::NAN);
                let x = p[1].as_str().and_then(|x| x.parse().ok());
                ((t * 1000.0).round() as i64, x.unwrap_or(f64::NAN))
            })
            .collect();
        out.push(Series {
            labels: labels(&s["metric"]),
            samples,
        });
    }
    Ok(out)
}

fn labels(metric: &serde_json::Value) -> BTreeMap<String, String> {
    metric
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

/// What is wrong with the raw samples of one `dozor.demo.runs` series, whose run `n` reports
/// `n` (the integration's contract, unit-tested in `agent/src/integrations/demo.rs`): every
/// run from 1 to the last stored must be there exactly once, one sample per timestamp, with
/// timestamps rising with the value. Empty when nothing is.
pub fn demo_counter_problems(samples: &[(i64, f64)]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut by_time: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for &(t, v) in samples {
        by_time.entry(t).or_default().push(v);
    }
    for (t, vs) in &by_time {
        if vs.len() > 1 {
            problems.push(format!("{} samples at {t} ms: {vs:?}", vs.len()));
        }
    }
    // The value of each run, in time order: 1, 2, 3, ...
    let values: Vec<f64> = by_time.values().map(|vs| vs[0]).collect();
    for (i, v) in values.iter().enumerate() {
        let want = (i + 1) as f64;
        if *v != want {
            let at = by_time.keys().nth(i).copied().unwrap_or_default();
            problems.push(format!(
                "sample {} (at {at} ms) is {v}, run {want} expected: runs {}",
                i + 1,
                describe_missing(&values)
            ));
            break;
        }
    }
    problems
}

/// The runs missing from `values` (each run `n` holds `n`), as ranges.
fn describe_missing(values: &[f64]) -> String {
    let max = values.iter().copied().fold(0.0, f64::max) as u64;
    let have: std::collections::BTreeSet<u64> = values.iter().map(|v| *v as u64).collect();
    let missing: Vec<u64> = (1..=max).filter(|n| !have.contains(n)).collect();
    let mut ranges = Vec::new();
    let mut i = 0;
    while i < missing.len() {
        let mut j = i;
        while j + 1 < missing.len() && missing[j + 1] == missing[j] + 1 {
            j += 1;
        }
        ranges.push(if i == j {
            missing[i].to_string()
        } else {
            format!("{}..={}", missing[i], missing[j])
        });
        i = j + 1;
    }
    if ranges.is_empty() {
        "none missing, but out of order or repeated".into()
    } else {
        format!("{} missing", ranges.join(", "))
    }
}

/// The samples with a timestamp in `from..=to` (milliseconds).
pub fn within(samples: &[(i64, f64)], from: i64, to: i64) -> usize {
    samples
        .iter()
        .filter(|(t, _)| (from..=to).contains(t))
        .count()
}

/// The longest time between two consecutive samples, in milliseconds.
pub fn longest_step(samples: &[(i64, f64)]) -> i64 {
    let mut times: Vec<i64> = samples.iter().map(|(t, _)| *t).collect();
    times.sort_unstable();
    times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_counter_has_no_problems() {
        assert!(demo_counter_problems(&[(1000, 1.0), (2000, 2.0), (3001, 3.0)]).is_empty());
    }

    #[test]
    fn holes_doubles_and_disorder_are_problems() {
        let hole = demo_counter_problems(&[(1000, 1.0), (2000, 2.0), (5000, 5.0), (6000, 6.0)]);
        assert_eq!(hole.len(), 1);
        assert!(hole[0].contains("3..=4 missing"), "{hole:?}");
        let twice = demo_counter_problems(&[(1000, 1.0), (2000, 2.0), (2000, 2.0)]);
        assert_eq!(twice, vec!["2 samples at 2000 ms: [2.0, 2.0]"]);
        let late = demo_counter_problems(&[(1000, 1.0), (2000, 3.0), (3000, 2.0)]);
        assert_eq!(late.len(), 1, "{late:?}");
        assert!(demo_counter_problems(&[(1000, 2.0)])[0].contains("1 missing"));
    }
}
