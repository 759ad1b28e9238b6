//! Bounds on what one translated point may carry (`limits.point`), as Prometheus bounds a
//! scrape (`label_limit`, `label_name_length_limit`, `label_value_length_limit`), and on how far
//! ahead of the collector's clock it may be stamped.
//!
//! Checked on translated points, before the series budget and the store: lengths are those of
//! the names and values as exposed, and label counts include `job`, `instance` and promoted
//! resource labels. Exemplar counts come from the request (translation does not keep
//! exemplars). A point over several bounds is counted once, under the first reason in
//! [`ORDER`].

use crate::config::{OverBound, PointLimits};
use crate::telemetry::events::{PointsDropped, PointsTruncated};
use crate::telemetry::{DropReason, Telemetry};
use dozor_metrics::exposition::{Kind, Value};
use dozor_metrics::translate::Point;
use std::time::{SystemTime, UNIX_EPOCH};

/// The order in which bounds are checked; a point over several is counted under the first.
pub const ORDER: [DropReason; 7] = [
    DropReason::FutureTimestamp,
    DropReason::NameTooLong,
    DropReason::TooManyLabels,
    DropReason::LabelNameTooLong,
    DropReason::LabelValueTooLong,
    DropReason::TooManyExemplars,
    DropReason::TooManyBuckets,
];

/// `limits.point`, in the form the pipeline checks.
#[derive(Clone, Debug)]
pub struct PointBounds {
    name: usize,
    labels: usize,
    label_name: usize,
    label_value: usize,
    exemplars: usize,
    buckets: usize,
    future_skew_ns: u64,
    truncate: bool,
}

impl PointBounds {
    /// `limits.point.max_labels`.
    pub fn max_labels(&self) -> usize {
        self.labels
    }
}

impl From<&PointLimits> for PointBounds {
    fn from(l: &PointLimits) -> Self {
        PointBounds {
            name: l.max_name_length,
            labels: l.max_labels,
            label_name: l.max_label_name_length,
            label_value: l.max_label_value_length,
            exemplars: l.max_exemplars,
            buckets: l.max_buckets,
            future_skew_ns: u64::try_from(l.max_future_skew.0.as_nanos()).unwrap_or(u64::MAX),
            truncate: l.on_over == OverBound::Truncate,
        }
    }
}

impl Default for PointBounds {
    fn default() -> Self {
        (&PointLimits::default()).into()
    }
}

/// What bounding did to one request's points, by reason.
#[derive(Debug, Default)]
pub struct Bounded {
    /// Data points dropped, indexed by `DropReason as usize`.
    dropped: [u64; DropReason::ALL.len()],
    /// `target_info` points dropped (no data point of the request: counted, not reported to
    /// the sender).
    info_dropped: [u64; DropReason::ALL.len()],
    /// Points stored cut to a bound.
    truncated: [u64; DropReason::ALL.len()],
}

impl Bounded {
    /// The data points dropped, by reason, as the pipeline reports drops.
    pub fn dropped(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        ORDER.iter().map(|&r| (r, self.dropped[r as usize]))
    }

    /// Counts what is not a data-point drop: truncations and dropped `target_info` points.
    pub fn emit(&self, t: &Telemetry) {
        for reason in ORDER {
            let count = self.truncated[reason as usize];
            PointsTruncated { reason, count }.emit(t);
            let count = self.info_dropped[reason as usize];
            if count > 0 {
                PointsDropped { reason, count }.emit(t);
            }
        }
    }
}

/// What to do with one point.
enum Verdict {
    Keep,
    Truncate(DropReason),
    Drop(DropReason),
}

/// The collector's wall clock, Unix nanoseconds.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl PointBounds {
    /// Bounds `points[start..]`, whose `time_unix_nano` are `times[start..]` and whose exemplar
    /// counts are the `(index, count)` pairs of `exemplars` (sorted by index, points without
    /// exemplars left out). Drops the points over a bound from both vectors (truncating
    /// instead when configured), counting them in `bounded`. `now_ns`: the collector's clock.
    pub fn apply(
        &self,
        points: &mut Vec<Point>,
        times: &mut Vec<u64>,
        start: usize,
        exemplars: &[(u32, u32)],
        now_ns: u64,
        bounded: &mut Bounded,
    ) {
        debug_assert_eq!(points.len(), times.len());
        let latest = now_ns.saturating_add(self.future_skew_ns);
        let mut exemplars = exemplars.iter().peekable();
        let mut keep = start;
        for i in start..points.len() {
            let mut n_exemplars = 0;
            while let Some(&&(at, n)) = exemplars.peek() {
                if at as usize > i {
                    break;
                }
                if at as usize == i {
                    n_exemplars = n as usize;
                }
                exemplars.next();
            }
            let p = &mut points[i];
            let (reason, dropped) = match self.check(p, times[i], n_exemplars, latest) {
                Verdict::Keep => (None, false),
                Verdict::Truncate(reason) if self.cut(p) => (Some(reason), false),
                Verdict::Truncate(_) => (Some(DropReason::LabelNameTooLong), true),
                Verdict::Drop(reason) => (Some(reason), true),
            };
            if let Some(reason) = reason {
                let counts = if !dropped {
                    &mut bounded.truncated
                } else if p.family == "target_info" && p.kind == Kind::Gauge {
                    &mut bounded.info_dropped
                } else {
                    &mut bounded.dropped
                };
                counts[reason as usize] += 1;
                if dropped {
                    continue;
                }
            }
            if keep != i {
                points.swap(keep, i);
                times.swap(keep, i);
            }
            keep += 1;
        }
        points.truncate(keep);
        times.truncate(keep);
    }

    /// The first bound `p` is over, in [`ORDER`]; `Truncate` when every bound it is over may be
    /// cut to (and `on_over: truncate`).
    fn check(&self, p: &Point, time: u64, exemplars: usize, latest: u64) -> Verdict {
        let buckets = match &p.value {
            Value::Histogram { counts, .. } => counts.len(),
            _ => 0,
        };
        let (mut name_long, mut value_long) = (false, false);
        for (k, v) in &p.labels {
            name_long |= k.len() > self.label_name;
            value_long |= v.len() > self.label_value;
        }
        let over = [
            time > latest,
            p.family.len() > self.name,
            p.labels.len() > self.labels,
            name_long,
            value_long,
            exemplars > self.exemplars,
            buckets > self.buckets,
        ];
        let Some(first) = over.iter().position(|&o| o) else {
            return Verdict::Keep;
        };
        let cuttable = |(i, &o): (usize, &bool)| !o || DropReason::TRUNCATABLE.contains(&ORDER[i]);
        if self.truncate && over.iter().enumerate().all(cuttable) {
            Verdict::Truncate(ORDER[first])
        } else {
            // The first reason that cannot be cut is why a truncating collector drops it.
            let why = if self.truncate {
                (0..ORDER.len())
                    .find(|&i| over[i] && !DropReason::TRUNCATABLE.contains(&ORDER[i]))
                    .unwrap_or(first)
            } else {
                first
            };
            Verdict::Drop(ORDER[why])
        }
    }

    /// Cuts the family name and labels of `p` to their bounds. False when two label names
    /// became the same (the point cannot be stored).
    fn cut(&self, p: &mut Point) -> bool {
        truncate(&mut p.family, self.name);
        for (k, v) in &mut p.labels {
            truncate(k, self.label_name);
            truncate(v, self.label_value);
        }
        // Cutting keeps sorted names in order but may make neighbours equal.
        !p.labels.windows(2).any(|w| w[0].0 == w[1].0)
    }
}

/// Cuts `s` to at most `max` bytes, at a character boundary.
fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(on_over: OverBound) -> PointBounds {
        (&PointLimits {
            max_name_length: 8,
            max_labels: 3,
            max_label_name_length: 4,
            max_label_value_length: 4,
            max_exemplars: 1,
            max_buckets: 2,
            max_future_skew: dozor_config::Duration(std::time::Duration::from_secs(1)),
            on_over,
        })
            .into()
    }

    fn point(family: &str, labels: &[(&str, &str)], buckets: usize) -> Point {
        let value = match buckets {
            0 => Value::Number(1.0),
            n => Value::Histogram {
                bounds: (1..n).map(|b| b as f64).collect(),
                counts: vec![0; n],
                sum: 0.0,
                count: 0,
            },
        };
        Point {
            family: family.into(),
            kind: if buckets > 0 {
                Kind::Histogram
            } else {
                Kind::Gauge
            },
            help: String::new(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value,
            delta: false,
            start_ns: 0,
        }
    }

    const NOW: u64 = 1_000_000_000_000;

    /// Bounds one point; what became of it.
    fn one(b: &PointBounds, p: Point, time: u64, exemplars: u32) -> (Option<Point>, Bounded) {
        let (mut points, mut times, mut bounded) = (vec![p], vec![time], Bounded::default());
        b.apply(
            &mut points,
            &mut times,
            0,
            &[(0, exemplars)],
            NOW,
            &mut bounded,
        );
        (points.pop(), bounded)
    }

    #[test]
    fn each_bound_drops_under_its_reason() {
        let b = limits(OverBound::Drop);
        let cases: [(Point, u64, u32, Option<DropReason>); 10] = [
            (point("ok", &[("a", "b")], 2), NOW + 1_000_000_000, 1, None),
            (point("ok", &[], 0), 0, 0, None),
            (
                point("ok", &[], 0),
                NOW + 1_000_000_001,
                0,
                Some(DropReason::FutureTimestamp),
            ),
            (
                point("too_long_", &[], 0),
                0,
                0,
                Some(DropReason::NameTooLong),
            ),
            (
                point("ok", &[("a", ""), ("b", ""), ("c", ""), ("d", "")], 0),
                0,
                0,
                Some(DropReason::TooManyLabels),
            ),
            (
                point("ok", &[("abcde", "")], 0),
                0,
                0,
                Some(DropReason::LabelNameTooLong),
            ),
            (
                point("ok", &[("a", "bcdef")], 0),
                0,
                0,
                Some(DropReason::LabelValueTooLong),
            ),
            (
                point("ok", &[], 0),
                0,
                2,
                Some(DropReason::TooManyExemplars),
            ),
            (point("ok", &[], 3), 0, 0, Some(DropReason::TooManyBuckets)),
            // Over several: the first in ORDER.
            (
                point("too_long_", &[("abcde", "bcdef")], 3),
                0,
                2,
                Some(DropReason::NameTooLong),
            ),
        ];
        for (p, time, exemplars, want) in cases {
            let what = format!("{p:?} at {time} with {exemplars} exemplars");
            let (kept, bounded) = one(&b, p, time, exemplars);
            let dropped: Vec<_> = bounded.dropped().filter(|(_, n)| *n > 0).collect();
            match want {
                None => assert!(kept.is_some() && dropped.is_empty(), "{what}: {dropped:?}"),
                Some(r) => assert!(kept.is_none() && dropped == [(r, 1)], "{what}: {dropped:?}"),
            }
        }
    }

    #[test]
    fn truncate_cuts_at_char_boundaries_and_counts_once() {
        let b = limits(OverBound::Truncate);
        let (kept, bounded) = one(&b, point("too_long_", &[("abcde", "aéé")], 0), 0, 5);
        let kept = kept.expect("kept");
        assert_eq!(kept.family, "too_long");
        // "aé" is 3 bytes; a 4-byte cut would split the second "é".
        assert_eq!(kept.labels, [("abcd".to_string(), "aé".to_string())]);
        assert_eq!(bounded.truncated[DropReason::NameTooLong as usize], 1);
        assert_eq!(bounded.truncated.iter().sum::<u64>(), 1);
        assert_eq!(bounded.dropped().map(|(_, n)| n).sum::<u64>(), 0);
    }

    #[test]
    fn truncate_still_drops_what_cannot_be_cut() {
        let b = limits(OverBound::Truncate);
        // Too many labels and a long name: dropped as too many labels, nothing truncated.
        let p = point(
            "too_long_",
            &[("a", ""), ("b", ""), ("c", ""), ("d", "")],
            0,
        );
        let (kept, bounded) = one(&b, p, 0, 0);
        assert!(kept.is_none());
        assert_eq!(bounded.dropped[DropReason::TooManyLabels as usize], 1);
        assert_eq!(bounded.truncated.iter().sum::<u64>(), 0);
        let (kept, bounded) = one(&b, point("ok", &[], 3), 0, 0);
        assert!(kept.is_none());
        assert_eq!(bounded.dropped[DropReason::TooManyBuckets as usize], 1);
        // Two names that become the same once cut.
        let (kept, bounded) = one(&b, point("ok", &[("abcde", ""), ("abcdf", "")], 0), 0, 0);
        assert!(kept.is_none());
        assert_eq!(bounded.dropped[DropReason::LabelNameTooLong as usize], 1);
    }

    #[test]
    fn target_info_is_counted_apart_and_order_is_kept() {
        let b = PointBounds {
            name: 16,
            ..limits(OverBound::Drop)
        };
        let mut points = vec![
            point("target_info", &[("host", "very long")], 0),
            point("a", &[], 0),
            point("b", &[("x", "very long")], 0),
            point("c", &[], 0),
        ];
        let mut times = vec![0, 1, 2, 3];
        let mut bounded = Bounded::default();
        b.apply(&mut points, &mut times, 0, &[], NOW, &mut bounded);
        let families: Vec<_> = points.iter().map(|p| p.family.as_str()).collect();
        assert_eq!(families, ["a", "c"]);
        assert_eq!(times, [1, 3]);
        assert_eq!(bounded.dropped[DropReason::LabelValueTooLong as usize], 1);
        assert_eq!(
            bounded.info_dropped[DropReason::LabelValueTooLong as usize],
            1
        );
    }
}
