//! A small PromQL reader for the content checks: enough of the grammar (Prometheus 2.42) to find
//! every metric name an expression selects and to infer which labels its result can carry.
//!
//! It is not an evaluator. It checks what a typo can break without promtool noticing: unknown
//! metric names and functions, matchers and `by`/`without`/`on`/`ignoring`/`group_*` labels that
//! the series cannot carry, one-to-one matches between different label sets (always empty), and
//! range vectors where an instant vector belongs. Grafana variables outside strings are replaced
//! first: `$__rate_interval` and friends by a duration, anything else by a number.

mod infer;
mod lex;
mod parse;

pub use parse::analyse;
use std::collections::{BTreeMap, BTreeSet};

/// The label names a value can carry; `Any` when they cannot be known (`up`, `absent(...)`).
#[derive(Clone, Debug, PartialEq)]
pub enum LabelSet {
    Any,
    Known(BTreeSet<String>),
}

impl LabelSet {
    pub fn known<'a>(labels: impl IntoIterator<Item = &'a str>) -> LabelSet {
        LabelSet::Known(labels.into_iter().map(String::from).collect())
    }

    pub fn can_have(&self, label: &str) -> bool {
        match self {
            LabelSet::Any => true,
            LabelSet::Known(s) => s.contains(label),
        }
    }

    fn union(&self, other: &LabelSet) -> LabelSet {
        match (self, other) {
            (LabelSet::Known(a), LabelSet::Known(b)) => LabelSet::Known(a | b),
            _ => LabelSet::Any,
        }
    }

    fn with(&self, extra: &[String]) -> LabelSet {
        self.union(&LabelSet::Known(extra.iter().cloned().collect()))
    }

    fn without(&self, removed: &[String]) -> LabelSet {
        match self {
            LabelSet::Any => LabelSet::Any,
            LabelSet::Known(s) => {
                LabelSet::Known(s.iter().filter(|l| !removed.contains(l)).cloned().collect())
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            LabelSet::Any => "any".into(),
            LabelSet::Known(s) if s.is_empty() => "none".into(),
            LabelSet::Known(s) => s.iter().cloned().collect::<Vec<_>>().join(", "),
        }
    }
}

/// The series names an expression may select, with the labels each can carry.
pub type Schema = BTreeMap<String, LabelSet>;

/// One problem, at a byte offset into the expression.
#[derive(Debug, PartialEq)]
pub struct Finding {
    pub offset: usize,
    pub message: String,
}

/// One vector selector as written.
#[derive(Debug)]
pub struct Selector {
    pub name: Option<String>,
    /// (label, operator, value).
    pub matchers: Vec<(String, String, String)>,
}

/// What reading one expression found.
#[derive(Debug)]
pub struct Analysis {
    pub selectors: Vec<Selector>,
    pub findings: Vec<Finding>,
    /// The labels of the result, when it is an instant vector that parsed.
    pub result: Option<LabelSet>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        let base = ["job", "instance", "site", "role"];
        let mut s = Schema::new();
        s.insert(
            "a_total".into(),
            LabelSet::known(base.iter().copied().chain(["mode", "cpu"])),
        );
        s.insert("b_bytes".into(), LabelSet::known(base));
        s.insert(
            "h_bucket".into(),
            LabelSet::known(base.iter().copied().chain(["le"])),
        );
        s.insert("up".into(), LabelSet::Any);
        s
    }

    fn names(expr: &str) -> Vec<String> {
        let a = analyse(expr, &schema());
        a.selectors.into_iter().filter_map(|s| s.name).collect()
    }

    fn messages(expr: &str) -> Vec<String> {
        analyse(expr, &schema())
            .findings
            .into_iter()
            .map(|f| f.message)
            .collect()
    }

    #[test]
    fn names_skip_keywords_functions_labels_strings_and_durations() {
        let expr = r#"
            sum by (instance, mode) (rate(a_total{mode=~"idle|b_bytes", job="x"}[$__rate_interval] offset 1h))
            / on (instance) group_left () sum without (site) (b_bytes @ end()) # c_total
            or label_replace(up, "dst", "$1", "instance", "(.*)") > bool 1e-3
            and ignoring (mode) avg_over_time(a_total[1h:5m]) unless topk(3, -b_bytes ^ 2)"#;
        assert_eq!(
            names(expr),
            ["a_total", "b_bytes", "up", "a_total", "b_bytes"]
        );
    }

    #[test]
    fn result_labels_follow_the_matching_rules() {
        let r = |e: &str| analyse(e, &schema()).result;
        let k = |l: &[&str]| Some(LabelSet::known(l.iter().copied()));
        assert_eq!(r("sum by (site) (b_bytes)"), k(&["site"]));
        assert_eq!(r("sum(b_bytes)"), k(&[]));
        assert_eq!(r("b_bytes / on (job) b_bytes"), k(&["job"]));
        assert_eq!(
            r("sum without (cpu) (a_total) / ignoring (mode) group_left b_bytes"),
            k(&["job", "instance", "site", "role", "mode"])
        );
        assert_eq!(
            r("histogram_quantile(0.9, sum by (le, job) (rate(h_bucket[5m])))"),
            k(&["job"])
        );
        assert_eq!(
            r("time() - b_bytes > 3"),
            k(&["job", "instance", "site", "role"])
        );
        assert_eq!(r("up or b_bytes"), Some(LabelSet::Any));
    }

    #[test]
    fn finds_what_promtool_accepts_but_cannot_work() {
        let cases: [(&str, &str); 11] = [
            (
                "rate(a_totl[5m])",
                "unknown metric `a_totl`: the catalogue cannot produce it (did you mean `a_total`?)",
            ),
            ("b_bytes{mode=\"x\"}", "`b_bytes` has no label `mode`"),
            ("sum by (mode) (b_bytes)", "sum by (mode): no series"),
            (
                "a_total / b_bytes",
                "`/` matches series by all their labels",
            ),
            (
                "a_total and on (mode) b_bytes",
                "on (mode): the right side of `and`",
            ),
            (
                "a_total / ignoring (nope) group_left b_bytes",
                "ignoring (nope): neither side",
            ),
            ("rate(b_bytes)", "rate(...) needs a range vector"),
            ("sum(a_total[5m])", "sum(...) needs an instant vector"),
            ("rat(a_total[5m])", "unknown function `rat`"),
            (
                "label_replace(b_bytes, \"x\", \"$1\", \"mode\", \".*\")",
                "cannot carry source label `mode`",
            ),
            ("sum(b_bytes", "expected `)`"),
        ];
        for (expr, want) in cases {
            let got = messages(expr);
            assert!(
                got.iter().any(|m| m.contains(want)),
                "{expr}: want {want:?}, got {got:?}"
            );
        }
        assert_eq!(
            messages("sum without (cpu, mode) (rate(a_total[5m])) / b_bytes"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn durations_and_numbers() {
        use super::lex::is_duration;
        assert!(is_duration("1h30m") && is_duration("5m") && is_duration("100ms"));
        assert!(!is_duration("5") && !is_duration("m") && !is_duration("5x"));
        assert!(messages("b_bytes > 0x1F and b_bytes > 1.5e+3 and b_bytes > Inf").is_empty());
    }
}
