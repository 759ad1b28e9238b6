//! `integrations.sql`: the user's read-only queries and the metrics each one produces.

use super::Sql;
pub use crate::integrations::db::{Dsn, Target};
use crate::integrations::{Context, Instance, Instances, Integration};
use dozor_config::{At, Duration};
use dozor_metrics::catalogue::Instrument;
use dozor_metrics::sample::{DynamicMetric, check_dynamic_name, check_label};
use serde::Deserialize;

/// `integrations.sql`: the queries under `queries`, each on its own connection and schedule.
pub type Config = Instances<QueryConfig>;

/// One read-only query and the metrics made from its rows.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct QueryConfig {
    /// Unique name: the `sql.query` label of the self-metrics and `sql/<name>` in
    /// `dozor.agent.scrape.*`. Letters, digits, `_` and `-`.
    pub name: String,
    /// Connection string: PostgreSQL as a URL (`postgresql://dozor@db:5432/shop`) or key/value
    /// (`host=db user=dozor dbname=shop password=${PG_PASSWORD}`), MySQL or MariaDB as
    /// `mysql://dozor:${MYSQL_PASSWORD}@db:3306/mes` (or `mariadb://`). TLS parameters as for
    /// `integrations.postgresql` (`sslmode`, ...) and `integrations.mysql` (`ssl-mode`, ...).
    /// Never logged: messages show it without its password.
    pub dsn: Dsn,
    /// One statement (no `;` inside), run in a read-only session.
    pub sql: String,
    /// Time between runs; the section's `interval` when unset.
    pub interval: Option<Duration>,
    /// Longest a run may take; the section's `timeout` when unset. The server stops the
    /// statement at 80% of it.
    pub timeout: Option<Duration>,
    /// Least time between two real executions; runs in between re-emit the last result
    /// (`dozor.sql.cache.hits`). `0s` executes on every run.
    pub min_interval: Duration,
    /// The metrics made from each row.
    pub metrics: Vec<MetricConfig>,
    /// Series the query may produce across its metrics; values beyond it are dropped and
    /// counted (`dozor.sql.points.dropped{reason="max_series"}`).
    pub max_series: usize,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            name: String::new(),
            dsn: Dsn::default(),
            sql: String::new(),
            interval: None,
            timeout: None,
            min_interval: Duration(std::time::Duration::ZERO),
            metrics: Vec::new(),
            max_series: 100,
        }
    }
}

/// A gauge or counter read from one column of every row.
#[derive(Clone, Debug, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct MetricConfig {
    /// Metric name, `sql_` then lower-case letters, digits and `_`: `sql_orders_open`. A counter
    /// gets `_total` in Prometheus.
    pub name: String,
    /// `gauge` (a level) or `counter` (a running total that only grows).
    #[serde(rename = "type")]
    pub kind: Kind,
    /// The numeric column holding the value.
    pub value_column: String,
    /// Columns whose values become labels, named like the columns (alias them in SQL).
    pub labels: Vec<String>,
    /// One sentence, the Prometheus `# HELP`.
    pub help: String,
}

/// The instrument of a user metric.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A level.
    #[default]
    Gauge,
    /// A running total.
    Counter,
}

impl Kind {
    /// The catalogue instrument.
    pub fn instrument(self) -> Instrument {
        match self {
            Kind::Gauge => Instrument::Gauge,
            Kind::Counter => Instrument::Counter,
        }
    }

    /// The Prometheus metric type.
    fn prometheus(self) -> dozor_metrics::exposition::Kind {
        match self {
            Kind::Gauge => dozor_metrics::exposition::Kind::Gauge,
            Kind::Counter => dozor_metrics::exposition::Kind::Counter,
        }
    }
}

/// The most series one query may be allowed.
pub const MAX_SERIES: usize = 10_000;

/// True when `sql` holds one statement: no `;` outside quotes and comments, but a final one.
/// A second statement could leave the read-only session (`SET ... read_only = off; DELETE`).
pub fn single_statement(sql: &str) -> bool {
    let body = sql.trim_end().trim_end_matches(';');
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' => {
                for d in chars.by_ref() {
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                for d in chars.by_ref() {
                    if prev == '*' && d == '/' {
                        break;
                    }
                    prev = d;
                }
            }
            ';' => return false,
            _ => {}
        }
    }
    true
}

impl QueryConfig {
    /// Declares the query's user metrics, in configuration order.
    pub fn declare(&self) -> Result<Vec<DynamicMetric>, String> {
        self.metrics
            .iter()
            .map(|m| {
                let help = if m.help.trim().is_empty() {
                    format!("Column {} of query {}.", m.value_column, self.name)
                } else {
                    m.help.trim().to_string()
                };
                DynamicMetric::declare(&m.name, &help, m.kind.instrument(), &m.labels)
            })
            .collect()
    }
}

impl Instance for QueryConfig {
    const LIST: &'static str = "queries";
    const NOUN: &'static str = "query";
    const LABEL: &'static str = "sql.query";

    fn name(&self) -> &str {
        &self.name
    }

    fn check_name(name: &str) -> Result<(), String> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        match ok {
            true => Ok(()),
            false => Err(
                "must be set: letters, digits, _ and -, at most 64 (it becomes sql.query)".into(),
            ),
        }
    }

    fn validate(&self, at: &mut At<'_>) {
        crate::integrations::db::check(at, "dsn", self.dsn.target(), Target::tls);
        if self.sql.trim().is_empty() {
            at.error("sql", "must be set");
        } else if !single_statement(&self.sql) {
            at.error(
                "sql",
                "must be one statement: remove the ; between statements",
            );
        }
        at.positive_if_set("interval", self.interval);
        at.positive_if_set("timeout", self.timeout);
        if self.max_series == 0 || self.max_series > MAX_SERIES {
            at.error("max_series", format!("must be from 1 to {MAX_SERIES}"));
        }
        if self.metrics.is_empty() {
            at.error("metrics", "at least one metric is needed");
        }
        for (j, m) in self.metrics.iter().enumerate() {
            validate_metric(m, &mut at.item("metrics", j));
        }
    }

    /// Every user metric is declared once across the queries.
    fn validate_all(queries: &[Self], at: &mut At<'_>) {
        // Prometheus name -> where it was declared.
        let mut declared: Vec<(String, String)> = Vec::new();
        for (i, q) in queries.iter().enumerate() {
            for (j, m) in q.metrics.iter().enumerate() {
                if check_dynamic_name(&m.name).is_err() {
                    continue;
                }
                let prom = dozor_metrics::naming::metric_name(&m.name, "", m.kind.prometheus());
                let here = format!("{}.queries[{i}].metrics[{j}]", at.path());
                match declared.iter().find(|(p, _)| *p == prom) {
                    Some((_, earlier)) => at
                        .item("queries", i)
                        .item("metrics", j)
                        .error("name", format!("{prom} is already declared by {earlier}")),
                    None => declared.push((prom, here)),
                }
            }
        }
    }

    fn schedule(&self) -> (Option<Duration>, Option<Duration>) {
        (self.interval, self.timeout)
    }

    fn build(&self, timeout: std::time::Duration, _: &Context) -> Option<Box<dyn Integration>> {
        // `validate` refused bad names and DSNs; should one get here, the query is left out.
        let metrics = self.declare().ok()?;
        Some(Box::new(Sql::new(self, metrics, timeout).ok()?))
    }
}

fn validate_metric(m: &MetricConfig, at: &mut At<'_>) {
    if let Err(why) = check_dynamic_name(&m.name) {
        at.error("name", why);
    }
    if m.value_column.trim().is_empty() {
        at.error(
            "value_column",
            "must name the numeric column holding the value",
        );
    } else if m
        .labels
        .iter()
        .any(|l| l.eq_ignore_ascii_case(&m.value_column))
    {
        at.error(
            "value_column",
            "is also a label: a column is either the value or a label",
        );
    }
    for (k, label) in m.labels.iter().enumerate() {
        if let Err(why) = check_label(label) {
            at.item("labels", k).error("", why);
        } else if m.labels[..k].contains(label) {
            at.item("labels", k).error("", "is repeated");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, String> {
        crate::integrations::testing::load(text)
    }

    #[test]
    fn defaults_and_every_problem_at_once() {
        let c = load(
            "integrations:\n  sql:\n    enabled: true\n    queries:\n      - name: orders\n        dsn: mariadb://dozor@127.0.0.1/mes\n        sql: SELECT status, count(*) AS n FROM orders GROUP BY status\n        metrics:\n          - {name: sql_orders, value_column: n, labels: [status]}\n",
        )
        .unwrap();
        let q = &c.instances[0];
        assert_eq!(q.max_series, 100);
        assert!(q.min_interval.0.is_zero() && q.interval.is_none());
        assert_eq!(q.metrics[0].kind, Kind::Gauge);
        assert!(matches!(q.dsn.target(), Ok(Target::Mysql(_))));

        let text = "\
integrations:
  sql:
    enabled: true
    queries:
      - name: orders
        dsn: postgresql://dozor:hunter2@db/shop
        sql: SELECT 1 AS n
        metrics:
          - {name: sql_orders, value_column: n}
      - name: orders
        dsn: oracle://x:hunter2@db
        sql: 'SELECT 1 AS n; DELETE FROM t'
        max_series: 0
        timeout: 0s
        metrics:
          - {name: orders, value_column: n}
          - {name: sql_orders, value_column: ''}
          - {name: sql_ok, value_column: n, labels: [Status, instance, n]}
      - name: ''
        dsn: ''
        sql: ''
        metrics: []
        colums: typo
";
        let e = load(text).unwrap_err();
        let lines: Vec<&str> = e.lines().collect();
        for want in [
            "integrations.sql.queries[1].name: \"orders\" is used by an earlier query",
            "integrations.sql.queries[1].dsn: invalid DSN: unknown scheme",
            "integrations.sql.queries[1].sql: must be one statement",
            "integrations.sql.queries[1].max_series: must be from 1 to 10000",
            "integrations.sql.queries[1].timeout: must be greater than 0s",
            "integrations.sql.queries[1].metrics[0].name: must start with sql_",
            "integrations.sql.queries[1].metrics[1].name: sql_orders is already declared by integrations.sql.queries[0].metrics[0]",
            "integrations.sql.queries[1].metrics[1].value_column: must name the numeric column",
            "integrations.sql.queries[1].metrics[2].value_column: is also a label",
            "integrations.sql.queries[1].metrics[2].labels[0]: label \"Status\" must be a lower-case column name",
            "integrations.sql.queries[1].metrics[2].labels[1]: label instance is set by dozor",
            "integrations.sql.queries[2].name: must be set",
            "integrations.sql.queries[2].dsn: invalid DSN: empty",
            "integrations.sql.queries[2].sql: must be set",
            "integrations.sql.queries[2].metrics: at least one metric",
            "integrations.sql.queries[2].colums: unknown key",
        ] {
            assert!(
                lines.iter().any(|l| l.contains(want)),
                "{want} not in:\n{e}"
            );
        }
        assert!(!e.contains("hunter2"), "{e}");

        let e = load("integrations:\n  sql:\n    queries:\n      - metrics:\n          - {name: sql_h, type: histogram}\n").unwrap_err();
        assert!(e.contains("integrations.sql.queries[0].metrics[0].type: unknown variant `histogram`, expected one of gauge, counter"), "{e}");
    }

    #[test]
    fn one_statement_only() {
        for ok in [
            "SELECT 1",
            "SELECT 1;",
            "SELECT ';' AS x -- a; comment\nFROM t",
            "SELECT \"a;b\" /* ; */ FROM t ;\n",
        ] {
            assert!(single_statement(ok), "{ok}");
        }
        for bad in ["SELECT 1; SELECT 2", "SET x = 1;DELETE FROM t"] {
            assert!(!single_statement(bad), "{bad}");
        }
    }
}
