//! Tests against the real servers: the shared PostgreSQL on 127.0.0.1:5432 (trust auth, user
//! `postgres`) and the shared MariaDB on 127.0.0.1:3306 (root, no password), each test in a
//! database of its own, dropped at the end.

mod mariadb;
mod postgres;

use super::Sql;
use super::config::{Dsn, Kind, MetricConfig, QueryConfig};
use crate::integrations::{Context, Section};
use crate::integrations::{Integration, IntegrationError};
use dozor_metrics::sample::{DynamicMetric, Recorder, Sample};
use std::time::Duration;

pub use dozor_testkit::unique;

/// A metric of `kind` named `name` from `value`, labelled by `labels`.
pub fn metric(name: &str, kind: Kind, value: &str, labels: &[&str]) -> MetricConfig {
    MetricConfig {
        name: name.into(),
        kind,
        value_column: value.into(),
        labels: labels.iter().map(|l| l.to_string()).collect(),
        help: String::new(),
    }
}

/// Query `name` running `sql` on `dsn`, making `metrics`.
pub fn query(name: &str, dsn: &str, sql: &str, metrics: Vec<MetricConfig>) -> QueryConfig {
    QueryConfig {
        name: name.into(),
        dsn: Dsn(dsn.into()),
        sql: sql.into(),
        metrics,
        ..QueryConfig::default()
    }
}

/// The integration for `q` with a 5 s timeout, its metrics declared as at start-up.
pub fn integration(q: &QueryConfig) -> Sql {
    let metrics = q
        .metrics
        .iter()
        .map(|m| DynamicMetric::declare(&m.name, "Test.", m.kind.instrument(), &m.labels).unwrap())
        .collect();
    Sql::new(q, metrics, Duration::from_secs(5)).unwrap()
}

/// One run: what it recorded and how it ended.
pub fn collect(s: &mut Sql) -> (Vec<Sample>, Result<(), IntegrationError>) {
    let mut r = Recorder::new();
    let result = s.collect(&mut r);
    (r.take(), result)
}

pub use crate::integrations::testing::value;

/// The samples of `metric`.
pub fn count(samples: &[Sample], metric: &str) -> usize {
    samples.iter().filter(|s| s.metric.name == metric).count()
}

/// Orders by status, inserted by both servers' tests: status and how many.
pub const ORDERS: &[(&str, usize)] = &[("open", 7), ("picked", 3), ("shipped", 12)];

/// `INSERT` statements of [`ORDERS`] into table `orders(id, status, created)`.
pub fn insert_orders() -> String {
    let mut values = Vec::new();
    for (status, n) in ORDERS {
        for _ in 0..*n {
            values.push(format!("('{status}')"));
        }
    }
    format!("INSERT INTO orders (status) VALUES {}", values.join(", "))
}

#[test]
fn build_makes_one_integration_per_query() {
    let m = || vec![metric("sql_build_n", Kind::Gauge, "n", &[])];
    let mut a = query("a", "host=127.0.0.1 user=postgres", "SELECT 1 AS n", m());
    a.interval = Some(dozor_config::Duration(Duration::from_secs(60)));
    let mut b = query("b", "mysql://root@127.0.0.1/", "SELECT 1 AS n", m());
    b.metrics[0].name = "sql_build_m".into();
    let config = super::Config {
        enabled: true,
        instances: vec![a, b],
        ..super::Config::default()
    };
    let ctx = Context::for_tests(Duration::from_secs(15), Duration::from_secs(5));
    let built = config.build(&ctx);
    let names: Vec<&str> = built.iter().map(|s| s.integration.name()).collect();
    assert_eq!(names, ["sql/a", "sql/b"]);
    assert_eq!(built[0].interval, Duration::from_secs(60));
    assert_eq!(built[1].interval, Duration::from_secs(15));
    let off = super::Config::default();
    assert!(off.build(&ctx).is_empty());
}
