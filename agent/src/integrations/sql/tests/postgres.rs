//! Against the shared PostgreSQL: exact counts, counters, the cache, the series budget, the
//! read-only session and what a misconfigured query reports.

use super::{ORDERS, collect, count, insert_orders, integration, metric, query, unique, value};
use crate::integrations::sql::config::Kind;
use dozor_testkit::pg::{self, SERVER};
use std::time::Duration;

/// A database of this test with the orders of [`ORDERS`], dropped on drop.
fn orders_db() -> pg::Database {
    let db = pg::Database::create("dozor_sql");
    db.admin()
        .batch_execute(&format!(
            "CREATE TABLE orders (id serial PRIMARY KEY, status text NOT NULL, created timestamptz NOT NULL DEFAULT now()); {}",
            insert_orders()
        ))
        .unwrap();
    db
}

const BY_STATUS: &str = "SELECT status, count(*) AS n FROM orders GROUP BY status";

#[test]
fn gauges_and_counters_equal_the_inserted_rows() {
    let db = orders_db();
    let q = query(
        "pg_orders",
        &db.dsn(),
        BY_STATUS,
        vec![
            metric("sql_pg_orders", Kind::Gauge, "n", &["status"]),
            metric("sql_pg_orders_seen", Kind::Counter, "n", &["status"]),
        ],
    );
    let (s, r) = collect(&mut integration(&q));
    r.unwrap();
    for (status, n) in ORDERS {
        assert_eq!(
            value(&s, "sql_pg_orders", &[status]),
            Some(*n as f64),
            "{status}"
        );
        assert_eq!(value(&s, "sql_pg_orders_seen", &[status]), Some(*n as f64));
    }
    assert_eq!(count(&s, "sql_pg_orders"), ORDERS.len());
    let counter = s
        .iter()
        .find(|s| s.metric.name == "sql_pg_orders_seen")
        .unwrap();
    assert_eq!(counter.metric.prometheus_name(), "sql_pg_orders_seen_total");
    assert_eq!(
        value(&s, "dozor.sql.query.executions", &["pg_orders"]),
        Some(1.0)
    );
    assert!(value(&s, "dozor.sql.query.duration", &["pg_orders"]).is_some_and(|d| d > 0.0));

    // The oldest open order's age, as the example in examples/business-sql.yaml reads it.
    let q = query(
        "pg_oldest",
        &db.dsn(),
        "SELECT extract(epoch FROM now() - min(created)) AS age_seconds FROM orders WHERE status = 'open'",
        vec![metric(
            "sql_pg_oldest_open_age_seconds",
            Kind::Gauge,
            "age_seconds",
            &[],
        )],
    );
    let (s, r) = collect(&mut integration(&q));
    r.unwrap();
    let age = value(&s, "sql_pg_oldest_open_age_seconds", &[]).unwrap();
    assert!((0.0..600.0).contains(&age), "{age}");
}

#[test]
fn min_interval_reemits_the_last_result_without_querying() {
    let db = orders_db();
    let mut q = query(
        "pg_cached",
        &db.dsn(),
        "SELECT count(*) AS n FROM orders WHERE status = 'open'",
        vec![metric("sql_pg_open", Kind::Gauge, "n", &[])],
    );
    q.min_interval = dozor_config::Duration(Duration::from_millis(800));
    let mut sql = integration(&q);
    let (s, r) = collect(&mut sql);
    r.unwrap();
    assert_eq!(value(&s, "sql_pg_open", &[]), Some(7.0));
    db.admin()
        .batch_execute("INSERT INTO orders (status) VALUES ('open'), ('open')")
        .unwrap();

    let (s, r) = collect(&mut sql);
    r.unwrap();
    assert_eq!(
        value(&s, "sql_pg_open", &[]),
        Some(7.0),
        "served from the cache"
    );
    assert_eq!(value(&s, "dozor.sql.cache.hits", &["pg_cached"]), Some(1.0));
    assert_eq!(
        value(&s, "dozor.sql.query.executions", &["pg_cached"]),
        Some(1.0)
    );
    assert!(value(&s, "dozor.sql.result.age", &["pg_cached"]).is_some_and(|a| a > 0.0));

    std::thread::sleep(Duration::from_millis(900));
    let (s, r) = collect(&mut sql);
    r.unwrap();
    assert_eq!(value(&s, "sql_pg_open", &[]), Some(9.0), "executed again");
    assert_eq!(
        value(&s, "dozor.sql.query.executions", &["pg_cached"]),
        Some(2.0)
    );
    assert_eq!(value(&s, "dozor.sql.result.age", &["pg_cached"]), Some(0.0));
}

#[test]
fn series_beyond_max_series_are_dropped_and_counted() {
    let db = orders_db();
    let mut q = query(
        "pg_budget",
        &db.dsn(),
        "SELECT g::text AS k, g AS v FROM generate_series(1, 25) AS g ORDER BY g",
        vec![metric("sql_pg_budget", Kind::Gauge, "v", &["k"])],
    );
    q.max_series = 10;
    let mut sql = integration(&q);
    let (s, r) = collect(&mut sql);
    r.unwrap();
    assert_eq!(count(&s, "sql_pg_budget"), 10);
    assert_eq!(value(&s, "sql_pg_budget", &["10"]), Some(10.0));
    assert_eq!(value(&s, "sql_pg_budget", &["11"]), None);
    assert_eq!(
        value(&s, "dozor.sql.points.dropped", &["pg_budget", "max_series"]),
        Some(15.0)
    );
    let (s, _) = collect(&mut sql);
    assert_eq!(
        value(&s, "dozor.sql.points.dropped", &["pg_budget", "max_series"]),
        Some(30.0),
        "counted on every execution"
    );
}

#[test]
fn a_write_is_refused_by_the_read_only_session() {
    let db = orders_db();
    for (name, sql) in [
        (
            "pg_insert",
            "INSERT INTO orders (status) VALUES ('evil') RETURNING id AS n",
        ),
        (
            "pg_cte",
            "WITH d AS (DELETE FROM orders RETURNING id) SELECT count(*) AS n FROM d",
        ),
        (
            "pg_unset",
            "WITH s AS (SELECT set_config('default_transaction_read_only', 'off', false)), d AS (DELETE FROM orders RETURNING id) SELECT count(*) AS n FROM d, s",
        ),
    ] {
        let q = query(
            name,
            &db.dsn(),
            sql,
            vec![metric("sql_pg_w", Kind::Gauge, "n", &[])],
        );
        let mut sql = integration(&q);
        let _ = collect(&mut sql);
        let (_, r) = collect(&mut sql);
        let e = r.unwrap_err();
        assert_eq!(e.kind, "read_only", "{e}");
        assert!(e.message.starts_with(&format!("query {name}: ")), "{e}");
        assert!(e.message.contains("may only read"), "{e}");
    }
    let total: i64 = db
        .admin()
        .query_one("SELECT count(*) FROM orders", &[])
        .unwrap()
        .get(0);
    assert_eq!(total as usize, ORDERS.iter().map(|(_, n)| n).sum::<usize>());
}

#[test]
fn errors_name_the_query_and_the_fix_and_others_keep_running() {
    let db = orders_db();
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let role = unique("dozor_sql_ro");
    db.admin()
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN"
        ))
        .unwrap();
    let n = || vec![metric("sql_pg_err", Kind::Gauge, "n", &["status"])];
    let cases = [
        (
            query("down", &format!("host=127.0.0.1 port={refused} user=dozor password=hunter2"), BY_STATUS, n()),
            "connect",
            format!("cannot connect to host=127.0.0.1 port={refused} user=dozor"),
        ),
        (
            query("bad_column", &db.dsn(), "SELECT status, count(*) AS total FROM orders GROUP BY status", n()),
            "column",
            "metrics[0]: column \"n\" is not in the result (it has status, total): fix the column name".into(),
        ),
        (
            query("not_a_number", &db.dsn(), "SELECT status, status AS n FROM orders", n()),
            "value",
            "column \"n\" holds \"open\", not a number".into(),
        ),
        (
            query("typo", &db.dsn(), "SELECT status, count(*) AS n FORM orders GROUP BY status", n()),
            "syntax",
            "syntax error at or near \"FORM\": fix the query's sql".into(),
        ),
        (
            query("no_grant", &format!("{SERVER} dbname={} user={role}", db.name()), BY_STATUS, n()),
            "permission",
            format!("permission denied for table orders: GRANT SELECT ON the tables the query reads TO {role}"),
        ),
    ];
    for (q, kind, fix) in &cases {
        let mut sql = integration(q);
        let (s, r) = collect(&mut sql);
        let e = r.unwrap_err();
        assert_eq!(e.kind, *kind, "{e}");
        assert!(e.message.starts_with(&format!("query {}: ", q.name)), "{e}");
        assert!(e.message.contains(fix.as_str()), "{e}\nlacks: {fix}");
        assert!(!e.message.contains("hunter2"), "{e}");
        assert_eq!(count(&s, "sql_pg_err"), 0);
        assert_eq!(
            value(&s, "dozor.sql.query.errors", &[&q.name, kind]),
            Some(1.0)
        );
    }
    // A good query next to the failing ones is unaffected.
    let good = query("good", &db.dsn(), BY_STATUS, n());
    let (s, r) = collect(&mut integration(&good));
    r.unwrap();
    assert_eq!(value(&s, "sql_pg_err", &["open"]), Some(7.0));
    drop(cases);
    // The database first, which ends the role's sessions; then the role, in a statement of
    // its own (DROP DATABASE refuses the transaction of a multi-statement string).
    drop(db);
    if let Err(e) = pg::admin("postgres").batch_execute(&format!("DROP ROLE IF EXISTS {role}")) {
        eprintln!("DROP ROLE {role} failed, the role is left behind: {e}");
    }
}

#[test]
fn a_slow_query_is_stopped_by_the_server_below_the_timeout() {
    let q = query(
        "pg_slow",
        &format!("{SERVER} dbname=postgres"),
        "SELECT 1 AS n FROM pg_sleep(3)",
        vec![metric("sql_pg_slow", Kind::Gauge, "n", &[])],
    );
    let metrics = vec![
        dozor_metrics::sample::DynamicMetric::declare(
            "sql_pg_slow",
            "Test.",
            dozor_metrics::catalogue::Instrument::Gauge,
            &[],
        )
        .unwrap(),
    ];
    let mut sql =
        crate::integrations::sql::Sql::new(&q, metrics, Duration::from_millis(500)).unwrap();
    let started = std::time::Instant::now();
    let (_, r) = collect(&mut sql);
    let e = r.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(2000),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(e.kind, "timeout", "{e}");
    assert!(e.message.contains("statement timeout (400ms"), "{e}");
}

#[test]
fn a_connection_closed_by_the_server_is_reopened_within_the_run() {
    let db = orders_db();
    let app = unique("dozor_sql_app");
    let q = query(
        "pg_reconnect",
        &format!("{} application_name={app}", db.dsn()),
        BY_STATUS,
        vec![metric("sql_pg_reconnect", Kind::Gauge, "n", &["status"])],
    );
    let mut sql = integration(&q);
    collect(&mut sql).1.unwrap();
    let killed: bool = db
        .admin()
        .query_one(
            "SELECT bool_and(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .unwrap()
        .get(0);
    assert!(killed);
    let (s, r) = collect(&mut sql);
    r.unwrap();
    assert_eq!(value(&s, "sql_pg_reconnect", &["open"]), Some(7.0));
    assert_eq!(
        value(&s, "dozor.sql.query.executions", &["pg_reconnect"]),
        Some(2.0)
    );
}
