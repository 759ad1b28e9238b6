//! Per-agent series budget (`limits.per_agent.max_series`): the label sets each agent has
//! sent within `series_ttl`, and the overflow series that takes the points of new ones once
//! the budget is spent.
//!
//! Follows the OpenTelemetry SDK's cardinality limit: a point of a new series over the budget
//! is not dropped but stored in one overflow series per family and agent, whose labels are the
//! agent's `job` and `instance` plus `otel_metric_overflow="true"`. Deltas add up there;
//! cumulative points and gauges replace each other (the last one wins), so the overflow series
//! says that, and roughly how much, data went over budget, not an exact sum.

use dozor_metrics::translate::Point;
use hashbrown::{DefaultHashBuilder, HashMap};
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The label that marks an overflow series.
pub const OVERFLOW_LABEL: &str = "otel_metric_overflow";

/// Every agent's live series.
#[derive(Debug)]
pub struct SeriesBudget {
    max: usize,
    ttl: Duration,
    hasher: DefaultHashBuilder,
    agents: Mutex<HashMap<String, HashMap<u64, Instant>>>,
}

impl SeriesBudget {
    /// A budget of `max` series per agent; a series unseen for `ttl` no longer counts.
    pub fn new(max: usize, ttl: Duration) -> Self {
        SeriesBudget {
            max,
            ttl,
            hasher: DefaultHashBuilder::default(),
            agents: Mutex::new(HashMap::new()),
        }
    }

    /// Moves the points of new series over `agent`'s budget into overflow series. Returns how
    /// many points were moved.
    pub fn apply(&self, agent: &str, points: &mut [Point]) -> u64 {
        let now = Instant::now();
        let mut agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        let series = agents.entry_ref(agent).or_default();
        let mut folded = 0;
        for p in points.iter_mut() {
            if p.family == "target_info" || p.labels.iter().any(|(k, _)| k == OVERFLOW_LABEL) {
                continue;
            }
            let hash = self.hasher.hash_one((&p.family, &p.labels));
            if let Some(seen) = series.get_mut(&hash) {
                *seen = now;
            } else if series.len() < self.max {
                series.insert(hash, now);
            } else {
                p.labels = overflow_labels(&p.labels);
                folded += 1;
            }
        }
        folded
    }

    /// Forgets series unseen for `ttl`, and agents left with none.
    pub fn expire(&self) {
        let mut agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        agents.retain(|_, series| {
            series.retain(|_, seen| seen.elapsed() < self.ttl);
            !series.is_empty()
        });
    }
}

/// `job` and `instance` of `labels` plus the overflow marker, sorted.
fn overflow_labels(labels: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = labels
        .iter()
        .filter(|(k, _)| k == "job" || k == "instance")
        .cloned()
        .collect();
    out.push((OVERFLOW_LABEL.to_string(), "true".to_string()));
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use dozor_metrics::exposition::{Kind, Value};

    fn point(family: &str, label: &str) -> Point {
        Point {
            family: family.into(),
            kind: Kind::Gauge,
            help: String::new(),
            labels: vec![
                ("instance".into(), "a1".into()),
                ("job".into(), "dozor-agent".into()),
                ("x".into(), label.into()),
            ],
            value: Value::Number(1.0),
            delta: false,
            start_ns: 0,
        }
    }

    #[test]
    fn new_series_over_budget_fold_into_one_per_family() {
        let b = SeriesBudget::new(2, Duration::from_secs(60));
        let mut points: Vec<Point> = ["1", "2", "3", "4"].iter().map(|l| point("f", l)).collect();
        points.push(point("g", "1"));
        assert_eq!(b.apply("a1", &mut points), 3);
        assert_eq!(points[0].labels, point("f", "1").labels);
        let overflow = vec![
            ("instance".to_string(), "a1".to_string()),
            ("job".to_string(), "dozor-agent".to_string()),
            (OVERFLOW_LABEL.to_string(), "true".to_string()),
        ];
        for p in &points[2..] {
            assert_eq!(p.labels, overflow);
        }
        // Known series keep their labels; another agent has its own budget.
        let mut again = vec![point("f", "2"), point("f", "5")];
        assert_eq!(b.apply("a1", &mut again), 1);
        assert_eq!(again[0].labels, point("f", "2").labels);
        assert_eq!(b.apply("a2", &mut [point("f", "9")]), 0);
    }
}
