//! Rates since `top` started: each counter's first value is its baseline, and its rate is
//! the increase over the time since then. Lifetime totals never show: a collector up for a
//! month shows what happens now.
//!
//! Time is the process's own `uptime_seconds` from the same document as the counter, so the
//! round trip of each refresh does not skew the rate.

use std::collections::HashMap;

/// Baselines of every counter seen, keyed by a name the caller makes unique (agent and counter).
#[derive(Debug, Default)]
pub struct Rates {
    base: HashMap<String, (f64, f64)>,
}

impl Rates {
    /// No baselines yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `value` of counter `key` at `at` (seconds of the process's uptime) and returns
    /// its increase per second since its baseline, `None` at its first sample. A counter that
    /// went down (the process restarted, the row was forgotten and came back) starts again
    /// from this sample.
    pub fn per_second(&mut self, key: &str, value: f64, at: f64) -> Option<f64> {
        let delta = self.delta(key, value, at)?;
        Some(delta.0 / delta.1)
    }

    /// The increase of counter `key` since its baseline and the seconds it took, `None` at
    /// the first sample (or when no time has passed).
    pub fn delta(&mut self, key: &str, value: f64, at: f64) -> Option<(f64, f64)> {
        match self.base.get(key) {
            Some(&(v0, t0)) if value >= v0 && at > t0 => Some((value - v0, at - t0)),
            Some(&(v0, t0)) if value >= v0 && at >= t0 => None,
            _ => {
                self.base.insert(key.to_string(), (value, at));
                None
            }
        }
    }
}

/// A rate for a table cell: `-` before there is one.
pub fn cell(rate: Option<f64>) -> String {
    match rate {
        None => "-".into(),
        Some(r) if r >= 100.0 => format!("{r:.0}"),
        Some(r) => format!("{r:.1}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_since_the_first_sample_not_lifetime() {
        let mut r = Rates::new();
        assert_eq!(r.per_second("a", 1_000_000.0, 100.0), None);
        assert_eq!(r.per_second("a", 1_000_050.0, 110.0), Some(5.0));
        assert_eq!(r.per_second("a", 1_000_200.0, 120.0), Some(10.0));
        assert_eq!(
            r.per_second("b", 7.0, 120.0),
            None,
            "a new row has its own baseline"
        );
        assert_eq!(r.per_second("a", 3.0, 130.0), None, "a reset starts over");
        assert_eq!(r.per_second("a", 13.0, 135.0), Some(2.0));
        assert_eq!(cell(None), "-");
        assert_eq!(
            (cell(Some(2.25)), cell(Some(1234.4))),
            ("2.2".into(), "1234".into())
        );
    }
}
