//! What each operator, aggregation and function does to labels, and the checks that go with it:
//! the rules of Prometheus 2.42's engine for vector matching, grouping and label functions.

use super::lex::Tok;
use super::parse::{Parser, Ty};
use super::{Finding, LabelSet};
use std::collections::BTreeSet;

/// Functions of Prometheus 2.42 taking a range vector.
const RANGE_FUNCTIONS: [&str; 21] = [
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "deriv",
    "predict_linear",
    "changes",
    "resets",
    "holt_winters",
    "absent_over_time",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "quantile_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "last_over_time",
    "present_over_time",
];

/// The other functions of Prometheus 2.42.
const FUNCTIONS: [&str; 47] = [
    "abs",
    "absent",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "ceil",
    "clamp",
    "clamp_max",
    "clamp_min",
    "cos",
    "cosh",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "deg",
    "exp",
    "floor",
    "histogram_count",
    "histogram_fraction",
    "histogram_quantile",
    "histogram_sum",
    "hour",
    "label_join",
    "label_replace",
    "ln",
    "log10",
    "log2",
    "minute",
    "month",
    "pi",
    "rad",
    "round",
    "scalar",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_desc",
    "sqrt",
    "tan",
    "tanh",
    "time",
    "timestamp",
];

impl Parser<'_> {
    pub(super) fn binary(
        &mut self,
        at: usize,
        op: &str,
        lhs: Ty,
        rhs: Ty,
        on: Option<(bool, Vec<String>)>,
        group: Option<(bool, Vec<String>)>,
    ) -> Ty {
        let (l, r) = match (lhs, rhs) {
            (Ty::Scalar, Ty::Scalar) => return Ty::Scalar,
            (Ty::Vector(v), Ty::Scalar) | (Ty::Scalar, Ty::Vector(v)) => return Ty::Vector(v),
            (Ty::Vector(l), Ty::Vector(r)) => (l, r),
            _ => {
                self.note(
                    at,
                    format!("`{op}` needs instant vectors or scalars on both sides"),
                );
                return Ty::Vector(LabelSet::Any);
            }
        };
        let set_op = matches!(op, "and" | "or" | "unless");
        match &on {
            Some((true, labels)) => {
                for label in labels {
                    for (side, set) in [("left", &l), ("right", &r)] {
                        if !set.can_have(label) {
                            self.note(at, format!("on ({label}): the {side} side of `{op}` cannot carry `{label}` (it has: {})", set.describe()));
                        }
                    }
                }
            }
            Some((false, labels)) => {
                for label in labels {
                    if !l.can_have(label) && !r.can_have(label) {
                        self.note(
                            at,
                            format!(
                                "ignoring ({label}): neither side of `{op}` can carry `{label}`"
                            ),
                        );
                    }
                }
            }
            None => {}
        }
        let ignored = match &on {
            Some((false, labels)) => labels.as_slice(),
            _ => &[],
        };
        let matched = on.as_ref().is_some_and(|(is_on, _)| *is_on);
        let (ls, rs) = (l.without(ignored), r.without(ignored));
        if !matched
            && op != "or"
            && matches!((&ls, &rs), (LabelSet::Known(_), LabelSet::Known(_)))
            && ls != rs
        {
            self.note(at, format!("`{op}` matches series by all their labels, but the left side has ({}) and the right side ({}): nothing can match; add on (...) or ignoring (...)", ls.describe(), rs.describe()));
        }
        if let Some((left, extra)) = &group {
            let one_side = if *left { &r } else { &l };
            for label in extra {
                if !one_side.can_have(label) {
                    self.note(
                        at,
                        format!(
                            "group_{} ({label}): the other side cannot carry `{label}`",
                            if *left { "left" } else { "right" }
                        ),
                    );
                }
            }
        }
        Ty::Vector(match (set_op, op, &on, &group) {
            (true, "or", _, _) => l.union(&r),
            (true, _, _, _) => l,
            (false, _, _, Some((true, extra))) => l.with(extra),
            (false, _, _, Some((false, extra))) => r.with(extra),
            (false, _, Some((true, labels)), None) => {
                LabelSet::Known(labels.iter().cloned().collect())
            }
            (false, _, _, None) => l.without(ignored),
        })
    }

    pub(super) fn aggregation(&mut self, op: &str, at: usize) -> Result<Ty, Finding> {
        let mut grouping = None;
        if self.is_ident("by") || self.is_ident("without") {
            let by = self.is_ident("by");
            self.bump();
            grouping = Some((by, self.label_list()?));
        }
        self.expect('(')?;
        let mut args = vec![self.expr(0)?];
        while self.peek() == Tok::Punct(',') {
            self.bump();
            args.push(self.expr(0)?);
        }
        self.expect(')')?;
        if grouping.is_none() && (self.is_ident("by") || self.is_ident("without")) {
            let by = self.is_ident("by");
            self.bump();
            grouping = Some((by, self.label_list()?));
        }
        let labels = match args.last() {
            Some(Ty::Vector(l)) => l.clone(),
            _ => {
                self.note(
                    at,
                    format!("{op}(...) needs an instant vector as its last argument"),
                );
                LabelSet::Any
            }
        };
        if let Some((by, list)) = &grouping {
            let kw = if *by { "by" } else { "without" };
            for label in list {
                if !labels.can_have(label) {
                    self.note(at, format!("{op} {kw} ({label}): no series in the aggregated expression can carry `{label}` (they can have: {})", labels.describe()));
                }
            }
        }
        let mut result = match (op, &grouping) {
            ("topk" | "bottomk", _) => labels,
            (_, Some((true, list))) => LabelSet::Known(list.iter().cloned().collect()),
            (_, Some((false, list))) => labels.without(list),
            (_, None) => LabelSet::Known(BTreeSet::new()),
        };
        if let (true, Some(Ty::Str(label))) = (op == "count_values", args.first()) {
            result = result.with(std::slice::from_ref(label));
        }
        Ok(Ty::Vector(result))
    }

    pub(super) fn function(&mut self, name: &str, at: usize) -> Result<Ty, Finding> {
        self.expect('(')?;
        let mut args = Vec::new();
        while self.peek() != Tok::Punct(')') {
            args.push(self.expr(0)?);
            if self.peek() == Tok::Punct(',') {
                self.bump();
            } else {
                break;
            }
        }
        self.expect(')')?;
        let range = RANGE_FUNCTIONS.contains(&name);
        if !range && !FUNCTIONS.contains(&name) && name != "vector" {
            self.note(at, format!("unknown function `{name}`"));
            return Ok(Ty::Vector(LabelSet::Any));
        }
        let first = args.iter().find_map(|a| match a {
            Ty::Vector(l) | Ty::Matrix(l) => Some((l.clone(), matches!(a, Ty::Matrix(_)))),
            _ => None,
        });
        match (&first, range) {
            (Some((_, false)), true) => self.note(
                at,
                format!("{name}(...) needs a range vector, such as x[5m]"),
            ),
            (Some((_, true)), false) => self.note(
                at,
                format!("{name}(...) needs an instant vector, not a range"),
            ),
            _ => {}
        }
        let labels = first.map_or(LabelSet::Known(BTreeSet::new()), |(l, _)| l);
        let string = |i: usize| match args.get(i) {
            Some(Ty::Str(s)) => Some(s.clone()),
            _ => None,
        };
        Ok(match name {
            "time" | "pi" | "scalar" => Ty::Scalar,
            "absent" | "absent_over_time" => Ty::Vector(LabelSet::Any),
            "label_replace" | "label_join" => {
                let sources: Vec<String> = if name == "label_replace" {
                    string(3).into_iter().collect()
                } else {
                    (3..args.len()).filter_map(string).collect()
                };
                for src in sources.iter().filter(|s| !s.is_empty()) {
                    if !labels.can_have(src) {
                        self.note(
                            at,
                            format!("{name}(...): the series cannot carry source label `{src}`"),
                        );
                    }
                }
                Ty::Vector(labels.with(&string(1).into_iter().collect::<Vec<_>>()))
            }
            "histogram_quantile" | "histogram_fraction" => {
                if !labels.can_have("le") {
                    self.note(
                        at,
                        format!("{name}(...) needs bucket series with an `le` label"),
                    );
                }
                Ty::Vector(labels.without(&["le".to_string()]))
            }
            _ => Ty::Vector(labels),
        })
    }
}

/// The closest known name, when one is close enough to be a likely typo.
pub(super) fn suggest<'a>(name: &str, known: impl Iterator<Item = &'a String>) -> Option<&'a str> {
    let distance = |a: &str, b: &str| {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    };
    known
        .map(|k| (distance(name, k), k))
        .filter(|(d, _)| *d <= name.len() / 4 + 1)
        .min()
        .map(|(_, k)| k.as_str())
}
