//! Against the shared MariaDB: exact counts, the read-only session, and result mismatches.

use super::{ORDERS, collect, count, insert_orders, integration, metric, query, value};
use crate::integrations::sql::config::Kind;
use dozor_testkit::mariadb::{self, root};
use mysql::prelude::Queryable;

/// A database of this test with the orders of [`ORDERS`], dropped on drop.
fn orders_db() -> mariadb::Database {
    let db = mariadb::Database::create("dozor_sql");
    db.conn()
        .query_drop(format!(
            "CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, status VARCHAR(20) NOT NULL, created DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP); {}",
            insert_orders()
        ))
        .unwrap();
    db
}

const BY_STATUS: &str = "SELECT status, count(*) AS n FROM orders GROUP BY status";

#[test]
fn gauges_and_counters_equal_the_inserted_rows() {
    let db = orders_db();
    for scheme in ["mysql", "mariadb"] {
        let q = query(
            "my_orders",
            &db.url_with(scheme),
            BY_STATUS,
            vec![
                metric("sql_my_orders", Kind::Gauge, "n", &["status"]),
                metric("sql_my_orders_seen", Kind::Counter, "N", &["status"]),
            ],
        );
        let (s, r) = collect(&mut integration(&q));
        r.unwrap();
        for (status, n) in ORDERS {
            assert_eq!(
                value(&s, "sql_my_orders", &[status]),
                Some(*n as f64),
                "{status}"
            );
            assert_eq!(value(&s, "sql_my_orders_seen", &[status]), Some(*n as f64));
        }
        assert_eq!(count(&s, "sql_my_orders"), ORDERS.len());
    }
    let q = query(
        "my_oldest",
        &db.url(),
        "SELECT TIMESTAMPDIFF(SECOND, MIN(created), NOW()) AS age_seconds FROM orders WHERE status = 'open'",
        vec![metric(
            "sql_my_oldest_open_age_seconds",
            Kind::Gauge,
            "age_seconds",
            &[],
        )],
    );
    let (s, r) = collect(&mut integration(&q));
    r.unwrap();
    let age = value(&s, "sql_my_oldest_open_age_seconds", &[]).unwrap();
    assert!((0.0..600.0).contains(&age), "{age}");
}

#[test]
fn a_write_is_refused_by_the_read_only_session() {
    let db = orders_db();
    let q = query(
        "my_delete",
        &db.url(),
        "DELETE FROM orders",
        vec![metric("sql_my_w", Kind::Gauge, "n", &[])],
    );
    let (_, r) = collect(&mut integration(&q));
    let e = r.unwrap_err();
    assert_eq!(e.kind, "read_only", "{e}");
    assert!(e.message.starts_with("query my_delete: "), "{e}");
    let total: Option<u64> = root()
        .query_first(format!("SELECT count(*) FROM {}.orders", db.name()))
        .unwrap();
    assert_eq!(total, Some(ORDERS.iter().map(|(_, n)| *n as u64).sum()));
}

#[test]
fn mismatches_name_the_query_and_the_fix() {
    let db = orders_db();
    let n = || vec![metric("sql_my_err", Kind::Gauge, "n", &["status"])];
    let cases = [
        (
            query(
                "my_column",
                &db.url(),
                "SELECT status, count(*) AS total FROM orders GROUP BY status",
                n(),
            ),
            "column",
            "column \"n\" is not in the result (it has status, total)",
        ),
        (
            query(
                "my_value",
                &db.url(),
                "SELECT status, status AS n FROM orders",
                n(),
            ),
            "value",
            "not a number",
        ),
        (
            query(
                "my_table",
                &db.url(),
                "SELECT status, 1 AS n FROM ordres",
                n(),
            ),
            "query",
            "fix the name in the query's sql",
        ),
        (
            query(
                "my_db",
                "mysql://root@127.0.0.1:3306/dozor_sql_missing",
                BY_STATUS,
                n(),
            ),
            "config",
            "fix the database in the DSN",
        ),
    ];
    for (q, kind, fix) in cases {
        let (_, r) = collect(&mut integration(&q));
        let e = r.unwrap_err();
        assert_eq!(e.kind, kind, "{e}");
        assert!(e.message.starts_with(&format!("query {}: ", q.name)), "{e}");
        assert!(e.message.contains(fix), "{e}\nlacks: {fix}");
    }
}

#[test]
fn a_slow_query_is_stopped_by_the_server_below_the_timeout() {
    let q = query(
        "my_slow",
        "mysql://root@127.0.0.1:3306/",
        "SELECT SLEEP(3) AS n",
        vec![metric("sql_my_slow", Kind::Gauge, "n", &[])],
    );
    let metrics = vec![
        dozor_metrics::sample::DynamicMetric::declare(
            "sql_my_slow",
            "Test.",
            dozor_metrics::catalogue::Instrument::Gauge,
            &[],
        )
        .unwrap(),
    ];
    let timeout = std::time::Duration::from_millis(1000);
    let mut sql = crate::integrations::sql::Sql::new(&q, metrics, timeout).unwrap();
    let started = std::time::Instant::now();
    let (_, r) = collect(&mut sql);
    let e = r.unwrap_err();
    assert!(started.elapsed() < timeout, "{:?}", started.elapsed());
    assert_eq!(e.kind, "timeout", "{e}");
    assert!(e.message.contains("max_statement_time exceeded"), "{e}");
}

#[test]
fn a_connection_killed_on_the_server_is_reopened_within_the_run() {
    let db = orders_db();
    let q = query(
        "my_reconnect",
        &db.url(),
        BY_STATUS,
        vec![metric("sql_my_reconnect", Kind::Gauge, "n", &["status"])],
    );
    let mut sql = integration(&q);
    collect(&mut sql).1.unwrap();
    let mut admin = root();
    let ids: Vec<u64> = admin
        .query(format!(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '{}' AND ID <> CONNECTION_ID()",
            db.name()
        ))
        .unwrap();
    assert_eq!(ids.len(), 1, "{ids:?}");
    admin.query_drop(format!("KILL {}", ids[0])).unwrap();
    let (s, r) = collect(&mut sql);
    r.unwrap();
    assert_eq!(value(&s, "sql_my_reconnect", &["open"]), Some(7.0));
}
