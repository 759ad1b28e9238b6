//! Tests against the real PostgreSQL on 127.0.0.1:5432 (trust auth, user `postgres`). Each test
//! creates its own databases and drops them at the end.

use super::config::FlowConfig;
use super::events::SCOPE;
use super::*;
use crate::export::logs::Outbox;
use crate::integrations::Integration;
use dozor_config::Duration as ConfigDuration;
use dozor_metrics::otlp::common::v1::any_value;
use dozor_metrics::otlp::logs::v1::LogRecord;
use dozor_metrics::sample::Recorder;
use dozor_testkit::pg::Database;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// The prefix of this module's database names (the MariaDB test's errors show it).
const DB: &str = "dozor_flow_test";

fn secs(s: u64) -> Option<ConfigDuration> {
    Some(ConfigDuration(Duration::from_secs(s)))
}

fn stage(name: &str, dsn: String, query: &str, sla: Option<ConfigDuration>) -> StageConfig {
    StageConfig {
        name: name.into(),
        dsn: crate::integrations::db::Dsn(dsn),
        query: query.into(),
        sla,
    }
}

fn value(samples: &[dozor_metrics::sample::Sample], name: &str, labels: &[&str]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.metric.name == name
                && s.attributes
                    .iter()
                    .map(|(_, v)| v.as_str())
                    .eq(labels.iter().copied())
        })
        .map(|s| s.value)
}

/// A logs outbox in `dir`, for the agent's resource.
fn outbox(dir: &std::path::Path) -> Arc<Outbox> {
    outbox_with(dir, dozor_buffer::Options::default())
}

fn outbox_with(dir: &std::path::Path, options: dozor_buffer::Options) -> Arc<Outbox> {
    let resource = vec![("service.instance.id".to_string(), "ws-1".to_string())];
    Arc::new(Outbox::open_at(dir, options, resource, 1000).unwrap())
}

/// The log records waiting in the outbox (taken: a second call returns only newer ones), each
/// checked to be in the flow's scope.
fn take_records(outbox: &Outbox) -> Vec<LogRecord> {
    let mut out = Vec::new();
    for request in outbox.take_all() {
        for rl in request.resource_logs {
            for sl in rl.scope_logs {
                assert_eq!(sl.scope.unwrap().name, "dozor.integration.flow");
                out.extend(sl.log_records);
            }
        }
    }
    out
}

/// A string or double attribute of a log record, as text.
fn attr(record: &LogRecord, key: &str) -> String {
    let value = record
        .attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref());
    match value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        other => panic!("{key}: {other:?}"),
    }
}

const SHOP_QUERY: &str =
    "SELECT id AS key, created_at AS seen_at FROM orders WHERE created_at > $1";
const MES_QUERY: &str =
    "SELECT order_ref AS key, received_at AS seen_at FROM mes_jobs WHERE received_at > $1";

/// Issue #4's acceptance: across two databases, 1,000 orders pass stage one and 997 reach stage
/// two: exactly the 3 missing ids are reported lost after the SLA, each once, and the lost count
/// is 3. Queries return at most 300 rows, so the integration catches up over several runs, and
/// it restarts from its state file half way.
#[test]
fn three_of_a_thousand_orders_lost_between_two_databases() {
    let dbs = [Database::create(DB), Database::create(DB)];
    // 1,000 orders, 5 s apart, the newest 37 minutes old: all past the 10 minute SLA.
    dbs[0]
        .admin()
        .batch_execute(
            "CREATE TABLE orders (id bigint PRIMARY KEY, created_at timestamptz NOT NULL);
             INSERT INTO orders SELECT i, now() - interval '2 hours' + i * interval '5 seconds'
             FROM generate_series(1, 1000) AS i;",
        )
        .unwrap();
    let mut mes = dbs[1].admin();
    mes.batch_execute(
        // `timestamp` without time zone, holding UTC: read as UTC.
        "SET TIME ZONE 'Asia/Kolkata';
         CREATE TABLE mes_jobs (order_ref text PRIMARY KEY, received_at timestamp NOT NULL);
         INSERT INTO mes_jobs SELECT i::text,
           (now() AT TIME ZONE 'UTC') - interval '2 hours' + i * interval '5 seconds' + interval '2 seconds'
         FROM generate_series(1, 1000) AS i;",
    )
    .unwrap();
    let deleted: BTreeSet<String> = mes
        .query(
            "DELETE FROM mes_jobs WHERE order_ref IN
             (SELECT order_ref FROM mes_jobs ORDER BY random() LIMIT 3) RETURNING order_ref",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(deleted.len(), 3);

    let dir = tempfile::tempdir().unwrap();
    let outbox = outbox(&dir.path().join("outbox"));
    let config = Config {
        enabled: true,
        state_dir: Some(dir.path().to_owned()),
        flows: vec![FlowConfig {
            name: "orders".into(),
            max_rows_per_query: 300,
            stages: vec![
                stage("shop", dbs[0].url(), SHOP_QUERY, secs(600)),
                stage("mes", dbs[1].url(), MES_QUERY, None),
            ],
            ..FlowConfig::default()
        }],
        ..Config::default()
    };
    let run = |integration: &mut FlowIntegration| {
        let mut r = Recorder::new();
        integration.collect(&mut r).unwrap();
        r.take()
    };
    let labels = ["orders", "shop"];
    let mut samples = Vec::new();
    // Each first run is the baseline (saved counters, nothing read): 2 and 4 reading runs.
    for runs in [3, 5] {
        // A new integration each time: the agent restarting, with only the state file kept.
        let mut integration =
            FlowIntegration::new(&config, Duration::from_secs(10), Some(outbox.clone()));
        for _ in 0..runs {
            samples = run(&mut integration);
        }
    }
    // The counters went on across the restart (they are kept in the state file).
    let lost = value(&samples, "dozor.flow.stage.lost", &labels).unwrap();
    let entered = value(&samples, "dozor.flow.stage.entered", &labels).unwrap();
    let passed = value(&samples, "dozor.flow.stage.passed", &labels).unwrap();
    let in_flight = value(&samples, "dozor.flow.stage.in_flight", &labels).unwrap();
    assert_eq!(in_flight, 0.0);
    assert_eq!(lost, 3.0);
    assert_eq!(entered, 1000.0);
    assert_eq!(passed, 997.0);

    let records = take_records(&outbox);
    let keys: BTreeSet<String> = records.iter().map(|r| attr(r, "dozor.flow.key")).collect();
    assert_eq!(records.len(), 3, "{records:?}");
    assert_eq!(keys, deleted);
    let ids: BTreeSet<String> = records
        .iter()
        .map(|r| attr(r, "dozor.flow.event_id"))
        .collect();
    assert_eq!(ids.len(), 3);
    for r in &records {
        assert_eq!(r.event_name, "dozor.flow.lost");
        assert_eq!(attr(r, "dozor.flow.name"), "orders");
        assert_eq!(attr(r, "dozor.flow.stage"), "shop");
        assert_eq!(attr(r, "dozor.flow.next_stage"), "mes");
        let age: f64 = attr(r, "dozor.flow.age").parse().unwrap();
        assert!(age > 600.0, "{r:?}");
    }

    // A lost order that shows up late counts as recovered, and is not reported again.
    let late = deleted.iter().next().unwrap();
    mes.execute(
        "INSERT INTO mes_jobs VALUES ($1, now() AT TIME ZONE 'UTC')",
        &[late],
    )
    .unwrap();
    let mut integration =
        FlowIntegration::new(&config, Duration::from_secs(10), Some(outbox.clone()));
    let baseline = run(&mut integration);
    assert_eq!(
        value(&baseline, "dozor.flow.stage.lost", &labels),
        Some(3.0)
    );
    // Regression: #11. The flow's own counters go on across a restart too.
    assert_eq!(
        value(&baseline, "dozor.flow.events.written", &["orders"]),
        Some(3.0)
    );
    assert_eq!(
        value(&baseline, "dozor.flow.stage.passed", &labels),
        Some(997.0)
    );
    let samples = run(&mut integration);
    assert_eq!(
        value(&samples, "dozor.flow.stage.recovered", &labels),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "dozor.flow.stage.passed", &labels),
        Some(998.0)
    );
    assert_eq!(value(&samples, "dozor.flow.stage.lost", &labels), Some(3.0));
    assert!(take_records(&outbox).is_empty(), "reported again");
}

/// A bad dsn, an unreachable database, a failing query and a query without the required
/// columns each give an error naming the flow, the stage and the fix, and never a password;
/// the stages that work are still read and reported.
#[test]
fn broken_stages_are_named_and_the_rest_keep_running() {
    let db = Database::create(DB);
    db.admin()
        .batch_execute(
            "CREATE TABLE orders (id bigint PRIMARY KEY, created_at timestamptz NOT NULL,
                                  price numeric NOT NULL DEFAULT 1);
             INSERT INTO orders SELECT i, now() - i * interval '1 minute' FROM generate_series(1, 5) AS i;",
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good = || stage("shop", db.url(), SHOP_QUERY, secs(600));
    let flow = |name: &str, second: StageConfig| FlowConfig {
        name: name.into(),
        stages: vec![good(), second],
        ..FlowConfig::default()
    };
    let config = Config {
        enabled: true,
        state_dir: Some(dir.path().to_owned()),
        flows: vec![
            flow(
                "unreachable",
                stage(
                    "mes",
                    "postgres://postgres:hunter2@127.0.0.1:1/mes".into(),
                    MES_QUERY,
                    None,
                ),
            ),
            flow(
                "unparsable",
                stage(
                    "mes",
                    "postgres://postgres:hunter2@[::1".into(),
                    MES_QUERY,
                    None,
                ),
            ),
            flow("missing_table", stage("mes", db.url(), MES_QUERY, None)),
            flow(
                "columns",
                stage(
                    "mes",
                    db.url(),
                    "SELECT id AS order_id, created_at FROM orders WHERE created_at > $1",
                    None,
                ),
            ),
            flow(
                "types",
                stage(
                    "mes",
                    db.url(),
                    "SELECT price AS key, created_at AS seen_at FROM orders WHERE created_at > $1",
                    None,
                ),
            ),
            flow(
                "writes",
                stage(
                    "mes",
                    db.url(),
                    "SELECT x::text AS key, now() AS seen_at FROM (SELECT nextval('s') AS x) q WHERE now() > $1",
                    None,
                ),
            ),
        ],
        ..Config::default()
    };
    db.admin().batch_execute("CREATE SEQUENCE s").unwrap();
    let mut integration = FlowIntegration::new(&config, Duration::from_secs(10), None);
    let mut r = Recorder::new();
    integration.collect(&mut r).unwrap();
    r.take();
    let first = integration.collect(&mut r).unwrap_err();
    assert_eq!(first.kind, "connect");
    let errors = integration.last_errors().join("\n");
    for want in [
        "flow \"unreachable\", stage \"mes\" (127.0.0.1:1/mes): connecting to 127.0.0.1:1/mes: ",
        "check the stage's dsn and that the database is up",
        "flow \"unparsable\", stage \"mes\" (?): invalid dsn",
        "flow \"missing_table\", stage \"mes\"",
        "query failed: relation \"mes_jobs\" does not exist; try the stage's query with psql",
        "flow \"columns\", stage \"mes\"",
        "the query returns columns [\"order_id\", \"created_at\"], it must return \"key\" and \"seen_at\"",
        "flow \"types\", stage \"mes\"",
        "column \"key\" is of type numeric: cast it to text",
        "flow \"writes\", stage \"mes\"",
        "cannot execute nextval() in a read-only transaction",
    ] {
        assert!(errors.contains(want), "missing {want:?} in:\n{errors}");
    }
    assert!(!errors.contains("hunter2"), "a password leaked:\n{errors}");
    let samples = r.take();
    for flow in [
        "unreachable",
        "unparsable",
        "missing_table",
        "columns",
        "types",
        "writes",
    ] {
        assert_eq!(
            value(&samples, "dozor.flow.stage.entered", &[flow, "shop"]),
            Some(5.0),
            "{flow}"
        );
        // The next stage was never read, so its keys are in flight, not lost.
        assert_eq!(
            value(&samples, "dozor.flow.stage.lost", &[flow, "shop"]),
            Some(0.0)
        );
        assert_eq!(
            value(&samples, "dozor.flow.stage.in_flight", &[flow, "shop"]),
            Some(5.0)
        );
    }
}

/// A query that takes longer than half the run's timeout is cancelled by the server
/// (`statement_timeout`), so the run ends within its timeout and says why.
#[test]
fn a_slow_query_is_cancelled_within_the_run_timeout() {
    let db = Database::create(DB);
    db.admin()
        .batch_execute(
            "CREATE TABLE orders (id bigint PRIMARY KEY, created_at timestamptz NOT NULL);
             INSERT INTO orders VALUES (1, now());",
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let slow =
        "SELECT id AS key, created_at AS seen_at FROM orders, pg_sleep(3) WHERE created_at > $1";
    let config = Config {
        enabled: true,
        state_dir: Some(dir.path().to_owned()),
        flows: vec![FlowConfig {
            name: "orders".into(),
            stages: vec![
                stage("shop", db.url(), SHOP_QUERY, secs(600)),
                stage("mes", db.url(), slow, None),
            ],
            ..FlowConfig::default()
        }],
        ..Config::default()
    };
    let mut integration = FlowIntegration::new(&config, Duration::from_secs(2), None);
    integration.collect(&mut Recorder::new()).unwrap();
    let started = std::time::Instant::now();
    let error = integration.collect(&mut Recorder::new()).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(error.kind, "query");
    assert!(
        error
            .message
            .contains("canceling statement due to statement timeout"),
        "{error}"
    );
}

/// A stage that returns fixed rows, for the run loop without a database.
struct Fixed(Vec<reconcile::Row>);

impl Source for Fixed {
    fn fetch(&mut self, since: Micros, limit: usize) -> Result<(Vec<Row>, Micros), StageError> {
        let rows = self.0.iter().filter(|r| r.seen_at > since);
        let now = pg::micros(std::time::SystemTime::now());
        Ok((rows.take(limit).cloned().collect(), now))
    }

    fn describe(&self) -> String {
        "fixed".into()
    }
}

/// Stage rows where order 1 passed shop -> mes an hour ago and orders 2 and 3 never reached mes.
fn one_of_two_lost(s: &StageConfig) -> Box<dyn Source> {
    let old = pg::micros(std::time::SystemTime::now()) - 3_600_000_000;
    let row = |key: &str, seen_at| Row {
        key: key.into(),
        seen_at,
    };
    let rows = if s.name == "shop" {
        vec![row("1", old), row("2", old), row("3", old)]
    } else {
        vec![row("1", old + 1)]
    };
    Box::new(Fixed(rows))
}

/// A config of one flow, shop -> mes, with its state in `dir`.
fn fixed_config(dir: &std::path::Path) -> Config {
    Config {
        enabled: true,
        state_dir: Some(dir.to_owned()),
        flows: vec![FlowConfig {
            name: "orders".into(),
            stages: vec![
                stage("shop", String::new(), SHOP_QUERY, secs(600)),
                stage("mes", String::new(), MES_QUERY, None),
            ],
            ..FlowConfig::default()
        }],
        ..Config::default()
    }
}

/// The baseline run, then one run; the samples of the second.
fn two_runs(integration: &mut FlowIntegration) -> Vec<dozor_metrics::sample::Sample> {
    integration.collect(&mut Recorder::new()).unwrap();
    let mut r = Recorder::new();
    integration.collect(&mut r).unwrap();
    r.take()
}

/// The durability contract: a key is marked reported in the state file only once its event is
/// in the logs outbox. An outbox that refuses (full, `when_full: pause`) leaves both keys
/// unreported and uncounted; once it has room, a restarted agent reports exactly those keys,
/// once.
#[test]
fn events_are_marked_reported_only_once_in_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let config = fixed_config(dir.path());
    let outbox_dir = dir.path().join("outbox");
    let tight = dozor_buffer::Options {
        segment_bytes: 4096,
        max_bytes: 8192,
        full: dozor_buffer::Full::Reject,
        sync: dozor_buffer::SyncPolicy::Never,
    };
    let full = outbox_with(&outbox_dir, tight);
    let filler = LogRecord {
        event_name: "filler".into(),
        body: Some(dozor_metrics::otlp::common::v1::AnyValue {
            value: Some(any_value::Value::StringValue("x".repeat(1500))),
        }),
        ..Default::default()
    };
    while full.append(SCOPE, vec![filler.clone()]).is_ok() {}
    let mut integration =
        FlowIntegration::with_sources(&config, Some(full.clone()), one_of_two_lost);
    let samples = two_runs(&mut integration);
    let labels = ["orders", "shop"];
    assert_eq!(
        value(&samples, "dozor.flow.events.failed", &["orders"]),
        Some(2.0)
    );
    assert_eq!(
        value(&samples, "dozor.flow.events.written", &["orders"]),
        Some(0.0)
    );
    assert_eq!(value(&samples, "dozor.flow.stage.lost", &labels), Some(0.0));
    assert_eq!(
        value(&samples, "dozor.flow.stage.in_flight", &labels),
        Some(2.0)
    );
    let saved = state::load(
        &state::path(dir.path(), "orders"),
        "orders",
        &["shop", "mes"],
    )
    .unwrap();
    assert!(
        saved.stages[0].pending.values().all(|p| !p.lost),
        "{saved:?}"
    );
    assert_eq!(saved.stages[0].totals.lost, 0);
    drop(integration);
    drop(full);

    // Room again (a larger max_bytes), and the agent restarted.
    let outbox = outbox(&outbox_dir);
    let mut integration =
        FlowIntegration::with_sources(&config, Some(outbox.clone()), one_of_two_lost);
    let samples = two_runs(&mut integration);
    assert_eq!(value(&samples, "dozor.flow.stage.lost", &labels), Some(2.0));
    assert_eq!(
        value(&samples, "dozor.flow.events.written", &["orders"]),
        Some(2.0)
    );
    let keys: BTreeSet<String> = take_records(&outbox)
        .iter()
        .filter(|r| r.event_name == "dozor.flow.lost")
        .map(|r| attr(r, "dozor.flow.key"))
        .collect();
    assert_eq!(keys, ["2", "3"].map(String::from).into());
    let mut r = Recorder::new();
    integration.collect(&mut r).unwrap();
    assert!(take_records(&outbox).is_empty(), "reported twice");
}

/// Without an outbox (`collect --once`), events are only logged and the state file is neither
/// written nor marked: the exporting agent still reports those keys.
#[test]
fn without_an_outbox_nothing_is_marked_reported() {
    let dir = tempfile::tempdir().unwrap();
    let config = fixed_config(dir.path());
    let mut integration = FlowIntegration::with_sources(&config, None, one_of_two_lost);
    let samples = two_runs(&mut integration);
    assert_eq!(
        value(&samples, "dozor.flow.stage.lost", &["orders", "shop"]),
        Some(2.0)
    );
    assert!(!state::path(dir.path(), "orders").exists());
    let outbox = outbox(&dir.path().join("outbox"));
    let mut integration =
        FlowIntegration::with_sources(&config, Some(outbox.clone()), one_of_two_lost);
    two_runs(&mut integration);
    assert_eq!(take_records(&outbox).len(), 2);
}

/// An unreadable state file is set aside as `.bad` and the flow starts anew, rather than the
/// integration failing for good.
#[test]
fn an_unreadable_state_file_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("orders.state.json"), "{not json").unwrap();
    let config = fixed_config(dir.path());
    let outbox = outbox(&dir.path().join("outbox"));
    let mut integration = FlowIntegration::with_sources(&config, Some(outbox), one_of_two_lost);
    let samples = two_runs(&mut integration);
    assert_eq!(
        value(&samples, "dozor.flow.stage.lost", &["orders", "shop"]),
        Some(2.0)
    );
    assert_eq!(
        value(&samples, "dozor.flow.events.written", &["orders"]),
        Some(2.0)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("orders.state.json.bad")).unwrap(),
        "{not json"
    );
    assert!(dir.path().join("orders.state.json").exists());
}

mod mariadb;
