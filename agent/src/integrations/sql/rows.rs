//! From a result set to metric values: the pure part of a run. Columns are matched by name
//! (case-insensitively, as servers fold unquoted names differently), values are parsed from the
//! text the servers send, and the query's series budget is applied in row order.

use super::config::MetricConfig;
use std::collections::HashSet;

pub use crate::integrations::db::Table;

/// One value to record: the metric's index in the query, its label values, the value.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    /// Index into the query's `metrics`.
    pub metric: usize,
    /// Label values in the order of the metric's `labels`.
    pub labels: Vec<String>,
    /// The value.
    pub value: f64,
}

/// Values dropped by one execution, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Beyond `max_series`.
    pub max_series: u64,
    /// A second row with the labels of an earlier one.
    pub duplicate: u64,
    /// A NULL value.
    pub null: u64,
}

/// The result of one execution, ready to record (and to re-emit from the cache).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extracted {
    /// The values kept.
    pub values: Vec<Value>,
    /// What was dropped.
    pub dropped: Dropped,
}

/// Why a result set does not fit the configuration; both are fixed in the config or the SQL.
#[derive(Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// A configured column is not in the result (`metrics[i]`, the column, the columns there are).
    Column(usize, String, Vec<String>),
    /// The value column holds something that is not a number (`metrics[i]`, the column, the text).
    Value(usize, String, String),
}

/// Turns `table` into the values of `metrics`, keeping at most `max_series` series.
pub fn extract(
    table: &Table,
    metrics: &[MetricConfig],
    max_series: usize,
) -> Result<Extracted, Mismatch> {
    let find = |i: usize, name: &str| {
        table
            .columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
            .ok_or_else(|| Mismatch::Column(i, name.to_string(), table.columns.clone()))
    };
    let mut plans = Vec::with_capacity(metrics.len());
    for (i, m) in metrics.iter().enumerate() {
        let value = find(i, &m.value_column)?;
        let labels = m
            .labels
            .iter()
            .map(|l| find(i, l))
            .collect::<Result<Vec<_>, _>>()?;
        plans.push((value, labels));
    }
    let mut out = Extracted::default();
    // Label sets kept so far, by metric: a repeated one is a duplicate, not a new series.
    let mut seen: HashSet<(usize, Vec<String>)> = HashSet::new();
    for row in &table.rows {
        for (i, (value, labels)) in plans.iter().enumerate() {
            let Some(text) = row.get(*value).and_then(|v| v.as_deref()) else {
                out.dropped.null += 1;
                continue;
            };
            let v = parse_number(text).ok_or_else(|| {
                Mismatch::Value(i, metrics[i].value_column.clone(), text.to_string())
            })?;
            let labels: Vec<String> = labels
                .iter()
                .map(|&c| row.get(c).cloned().flatten().unwrap_or_default())
                .collect();
            let key = (i, labels);
            if seen.contains(&key) {
                out.dropped.duplicate += 1;
            } else if out.values.len() >= max_series {
                out.dropped.max_series += 1;
            } else {
                seen.insert(key.clone());
                out.values.push(Value {
                    metric: i,
                    labels: key.1,
                    value: v,
                });
            }
        }
    }
    Ok(out)
}

/// A number as either server prints it: integers, decimals, exponents; booleans as 1 and 0
/// (PostgreSQL sends `t`/`f`).
fn parse_number(text: &str) -> Option<f64> {
    match text.trim() {
        "t" | "true" => Some(1.0),
        "f" | "false" => Some(0.0),
        t => t.parse::<f64>().ok().filter(|v| v.is_finite()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::sql::config::Kind;

    fn metric(value: &str, labels: &[&str]) -> MetricConfig {
        MetricConfig {
            name: "sql_x".into(),
            kind: Kind::Gauge,
            value_column: value.into(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            help: String::new(),
        }
    }

    fn table(columns: &[&str], rows: &[&[Option<&str>]]) -> Table {
        Table {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|v| v.map(str::to_string)).collect())
                .collect(),
        }
    }

    #[test]
    fn rows_become_values_within_the_budget() {
        let t = table(
            &["STATUS", "n", "age"],
            &[
                &[Some("open"), Some("3"), Some("12.5")],
                &[Some("done"), Some("7"), None],
                &[Some("open"), Some("4"), Some("1")],
                &[None, Some("1e2"), Some("0")],
                &[Some("late"), Some("1"), Some("0")],
            ],
        );
        let metrics = [metric("n", &["status"]), metric("age", &[])];
        let got = extract(&t, &metrics, 4).unwrap();
        let kept: Vec<(usize, Vec<&str>, f64)> = got
            .values
            .iter()
            .map(|v| {
                (
                    v.metric,
                    v.labels.iter().map(String::as_str).collect(),
                    v.value,
                )
            })
            .collect();
        assert_eq!(
            kept,
            [
                (0, vec!["open"], 3.0),
                (1, vec![], 12.5),
                (0, vec!["done"], 7.0),
                (0, vec![""], 100.0),
            ]
        );
        assert_eq!(
            got.dropped,
            Dropped {
                max_series: 1,
                duplicate: 4,
                null: 1
            }
        );
    }

    #[test]
    fn mismatches_name_the_column() {
        let t = table(&["status", "n"], &[&[Some("open"), Some("many")]]);
        assert_eq!(
            extract(&t, &[metric("count", &["status"])], 10),
            Err(Mismatch::Column(
                0,
                "count".into(),
                vec!["status".into(), "n".into()]
            ))
        );
        assert_eq!(
            extract(&t, &[metric("n", &["state"])], 10).unwrap_err(),
            Mismatch::Column(0, "state".into(), vec!["status".into(), "n".into()])
        );
        assert_eq!(
            extract(&t, &[metric("n", &["status"])], 10),
            Err(Mismatch::Value(0, "n".into(), "many".into()))
        );
        for (text, want) in [
            ("t", 1.0),
            ("-2.50", -2.5),
            ("18446744073709551615", 1.8446744073709552e19),
        ] {
            assert_eq!(parse_number(text), Some(want));
        }
        assert_eq!(parse_number("NaN"), None);
    }
}
