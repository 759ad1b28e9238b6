//! Bounded cardinality: which queues (or exchanges) get series of their own. Names are
//! filtered by `include`/`exclude`, then the first `max` in order of (vhost, name) are kept
//! (those given priority, dead-letter queues, first);
//! the rest of each vhost is summed into the name `_other`. A stable order (not "the deepest")
//! keeps a queue's counters on one series from run to run.

use crate::integrations::filter::Filter;
use std::collections::BTreeMap;

/// The overflow entity's name.
pub const OTHER: &str = "_other";

/// The filters and the budget.
#[derive(Debug)]
pub struct Select {
    /// The configured `include` and `exclude`.
    pub filter: Filter,
    /// Entities reported one by one.
    pub max: usize,
}

impl Select {
    /// `items` by (vhost, name) filtered and folded: the kept ones, `_other` of each vhost
    /// with the rest merged by `add`, and how many were folded. Items for which `first` is true
    /// (dead-letter queues) take the budget before the others, so that they keep their own
    /// series.
    pub fn apply<T: Clone + Default>(
        &self,
        items: &BTreeMap<(String, String), T>,
        first: impl Fn(&T) -> bool,
        add: impl Fn(&mut T, &T),
    ) -> (BTreeMap<(String, String), T>, usize) {
        let wanted: Vec<_> = items
            .iter()
            .filter(|((_, n), _)| self.filter.wants(n))
            .collect();
        let mut keep: std::collections::BTreeSet<&(String, String)> = wanted
            .iter()
            .filter(|(_, v)| first(v))
            .take(self.max)
            .map(|(k, _)| *k)
            .collect();
        for (k, _) in &wanted {
            if keep.len() >= self.max {
                break;
            }
            keep.insert(k);
        }
        let mut out = BTreeMap::new();
        let mut folded = 0;
        for (key, v) in wanted {
            if keep.contains(key) {
                out.insert(key.clone(), v.clone());
            } else {
                folded += 1;
                add(
                    out.entry((key.0.clone(), OTHER.to_string())).or_default(),
                    v,
                );
            }
        }
        (out, folded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_then_folds_the_rest_per_vhost() {
        let pattern = |p: &str| Some(dozor_config::RegexPattern(regex::Regex::new(p).unwrap()));
        let s = Select {
            filter: Filter::new(&pattern("^q"), &pattern("^q3$")),
            max: 2,
        };
        let items: BTreeMap<(String, String), f64> = [
            ("/", "q1", 1.0),
            ("/", "q2", 2.0),
            ("/", "q3", 4.0),
            ("/", "q4", 8.0),
            ("b", "q5", 16.0),
            ("b", "x", 32.0),
        ]
        .into_iter()
        .map(|(v, n, x)| ((v.to_string(), n.to_string()), x))
        .collect();
        let (out, folded) = s.apply(&items, |_| false, |a, b| *a += b);
        let got: Vec<(&str, &str, f64)> = out
            .iter()
            .map(|((v, n), x)| (v.as_str(), n.as_str(), *x))
            .collect();
        assert_eq!(
            got,
            [
                ("/", "_other", 8.0),
                ("/", "q1", 1.0),
                ("/", "q2", 2.0),
                ("b", "_other", 16.0)
            ]
        );
        assert_eq!(folded, 2);
        // q4 first (a dead-letter queue, say): it takes the budget before q1.
        let (out, folded) = s.apply(&items, |x| *x == 8.0, |a, b| *a += b);
        let got: Vec<(&str, &str, f64)> = out
            .iter()
            .map(|((v, n), x)| (v.as_str(), n.as_str(), *x))
            .collect();
        assert_eq!(
            got,
            [
                ("/", "_other", 2.0),
                ("/", "q1", 1.0),
                ("/", "q4", 8.0),
                ("b", "_other", 16.0)
            ]
        );
        assert_eq!(folded, 2);
    }
}
