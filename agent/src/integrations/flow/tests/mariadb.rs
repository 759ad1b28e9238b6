//! A flow across kinds of database: stage one in PostgreSQL, stage two in MariaDB on
//! 127.0.0.1:3306 (root, no password). The test creates its own MariaDB database and drops it.

use super::*;
use dozor_testkit::mariadb;
use mysql::prelude::Queryable;

/// 200 orders in PostgreSQL, 198 of them in MariaDB (DATETIME(6) in UTC): exactly the 2
/// missing ids are lost; a query without `seen_at` is named with its fix; the session is
/// read-only.
#[test]
fn orders_lost_between_postgresql_and_mariadb() {
    let pg = Database::create(DB);
    pg.admin()
        .batch_execute(
            "CREATE TABLE orders (id bigint PRIMARY KEY, created_at timestamptz NOT NULL);
             INSERT INTO orders SELECT i, now() - interval '2 hours' + i * interval '10 seconds'
             FROM generate_series(1, 200) AS i;",
        )
        .unwrap();
    let times: Vec<(i64, String)> = pg
        .admin()
        .query(
            "SELECT id, to_char(created_at AT TIME ZONE 'UTC' + interval '3 seconds', 'YYYY-MM-DD HH24:MI:SS.US') FROM orders ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let db = mariadb::Database::create(DB);
    let mut conn = db.conn();
    conn.query_drop(
        "CREATE TABLE jobs (order_ref VARCHAR(32) PRIMARY KEY, received_at DATETIME(6) NOT NULL)",
    )
    .unwrap();
    let lost = ["42", "137"];
    for (id, t) in &times {
        if !lost.contains(&id.to_string().as_str()) {
            conn.exec_drop("INSERT INTO jobs VALUES (?, ?)", (id.to_string(), t))
                .unwrap();
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let outbox = outbox(&dir.path().join("outbox"));
    let config = Config {
        enabled: true,
        state_dir: Some(dir.path().to_owned()),
        flows: vec![
            FlowConfig {
                name: "orders".into(),
                stages: vec![
                    stage("shop", pg.url(), SHOP_QUERY, secs(600)),
                    stage(
                        "mes",
                        db.url(),
                        "SELECT order_ref AS `key`, received_at AS seen_at FROM jobs WHERE received_at > $1",
                        None,
                    ),
                ],
                ..FlowConfig::default()
            },
            FlowConfig {
                name: "columns".into(),
                stages: vec![
                    stage("shop", pg.url(), SHOP_QUERY, secs(600)),
                    stage(
                        "mes",
                        db.url(),
                        "SELECT order_ref AS `key`, received_at FROM jobs WHERE received_at > $1",
                        None,
                    ),
                ],
                ..FlowConfig::default()
            },
            FlowConfig {
                name: "writes".into(),
                stages: vec![
                    stage("shop", pg.url(), SHOP_QUERY, secs(600)),
                    stage(
                        "mes",
                        db.url(),
                        "SELECT order_ref AS `key`, received_at AS seen_at FROM jobs WHERE received_at > $1 FOR UPDATE",
                        None,
                    ),
                ],
                ..FlowConfig::default()
            },
        ],
        ..Config::default()
    };
    let mut integration =
        FlowIntegration::new(&config, Duration::from_secs(10), Some(outbox.clone()));
    let mut r = Recorder::new();
    integration.collect(&mut r).unwrap();
    r.take();
    assert!(integration.collect(&mut r).is_err());
    let samples = r.take();
    let labels = ["orders", "shop"];
    assert_eq!(
        value(&samples, "dozor.flow.stage.entered", &labels),
        Some(200.0)
    );
    assert_eq!(
        value(&samples, "dozor.flow.stage.passed", &labels),
        Some(198.0)
    );
    assert_eq!(value(&samples, "dozor.flow.stage.lost", &labels), Some(2.0));
    assert_eq!(
        value(&samples, "dozor.flow.stage.entered", &["orders", "mes"]),
        Some(198.0)
    );
    let keys: BTreeSet<String> = take_records(&outbox)
        .iter()
        .map(|r| attr(r, "dozor.flow.key"))
        .collect();
    assert_eq!(keys, lost.iter().map(|k| k.to_string()).collect());
    let errors = integration.last_errors().join("\n");
    for want in [
        "flow \"columns\", stage \"mes\" (127.0.0.1:3306/dozor_flow_test_",
        "the query returns columns [\"key\", \"received_at\"], it must return \"key\" and \"seen_at\"",
        "flow \"writes\", stage \"mes\"",
        "READ ONLY",
    ] {
        assert!(errors.contains(want), "missing {want:?} in:\n{errors}");
    }
    assert_eq!(errors.lines().count(), 2, "{errors}");
}
