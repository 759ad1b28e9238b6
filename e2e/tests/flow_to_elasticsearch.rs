//! The whole order-flow path with the real binaries: orders in PostgreSQL (stage one) and
//! MariaDB (stage two), the real `dozor-agent` running the `flow` integration and exporting to
//! the real `dozor-collector`, which indexes lost-order events into the fake Elasticsearch of
//! `dozor_testkit::elasticsearch`. Ground truth is the 3 order ids the test withheld from stage two.
//!
//! The databases are made by `dozor_testkit`, under names unique to the test, and dropped at its
//! end.

use dozor_e2e::delivery::{metric, metric_sum};
use dozor_testkit::elasticsearch::FakeEs;
use dozor_testkit::{Collector, Proc, http_get, mariadb, pg, start_agent, wait_for};
use mysql::prelude::Queryable;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ORDERS: u64 = 1000;
const INDEX: &str = "logs-dozor-default";
/// The shop stage's SLA: an order must reach the MES within this many seconds.
const SLA_SECS: f64 = 3.0;
const HOST: &str = "flow-e2e-host";
const INSTANCE: &str = "flow-e2e-agent";

/// The shop database (PostgreSQL) and the MES database (MariaDB) of one test, dropped when it
/// ends.
struct Databases {
    shop: pg::Database,
    mes: mariadb::Database,
}

impl Databases {
    fn create(tag: &str) -> Databases {
        let name = format!("dozor_e2e_flow_{tag}");
        Databases {
            shop: pg::Database::create(&format!("{name}_shop")),
            mes: mariadb::Database::create(&format!("{name}_mes")),
        }
    }
}

/// Three distinct order ids in 1..=1000, different from run to run (printed on failure).
fn withheld_ids() -> BTreeSet<u64> {
    let mut x = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        ^ (u64::from(std::process::id()) << 32);
    let mut ids = BTreeSet::new();
    while ids.len() < 3 {
        // xorshift64
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ids.insert(x % ORDERS + 1);
    }
    ids
}

/// 1,000 orders enter the shop over the last 6 to 1 seconds, 5 ms apart; each but `withheld`
/// reaches the MES half a second later. Some orders are still within the SLA when the agent
/// first reads them, so they are seen in flight before they are lost.
fn orders(dbs: &Databases, withheld: &BTreeSet<u64>) {
    let base = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        - 6.0;
    dbs.shop
        .admin()
        .batch_execute(&format!(
            "CREATE TABLE orders (id bigint PRIMARY KEY, created_at timestamptz NOT NULL);
             INSERT INTO orders SELECT i, to_timestamp({base:.6}) + i * interval '5 milliseconds'
             FROM generate_series(1, {ORDERS}) AS i"
        ))
        .expect("creating the shop's orders");
    let withheld: Vec<String> = withheld.iter().map(u64::to_string).collect();
    // DATETIME holding UTC; seq_1_to_N is MariaDB's Sequence engine.
    dbs.mes
        .conn()
        .query_drop(format!(
            "SET time_zone = '+00:00';
             CREATE TABLE jobs (order_ref VARCHAR(32) PRIMARY KEY, received_at DATETIME(6) NOT NULL);
             INSERT INTO jobs SELECT seq, FROM_UNIXTIME({base:.6} + seq * 0.005 + 0.5)
             FROM seq_1_to_{ORDERS} WHERE seq NOT IN ({})",
            withheld.join(", ")
        ))
        .expect("creating the MES's jobs");
}

/// The collector's `exporters.elasticsearch` (and delivery ledger) for the fake at `es`.
fn collector_extra(dir: &Path, es: &FakeEs) -> String {
    format!(
        "  elasticsearch:\n    endpoints: [\"{}\"]\n    flush_interval: 100ms\n    timeout: 10s\n\
         \x20   retry:\n      initial_backoff: 100ms\n      max_backoff: 500ms\n\
         \x20   outbox:\n      path: {}\n\
         delivery:\n  ledger_path: {}\n",
        es.url(),
        dir.join("es-outbox").display(),
        dir.join("ledger").display()
    )
}

fn agent_config(dir: &Path, dbs: &Databases, protocol: &str, port: u16) -> String {
    format!(
        "agent:\n  interval: 1s\n\
         resource:\n  host_name: {HOST}\n  instance_id: {INSTANCE}\n\
         integrations:\n  host:\n    enabled: false\n\
         \x20 flow:\n    enabled: true\n    interval: 1s\n    state_dir: {state}\n    flows:\n\
         \x20     - name: orders\n        overlap: 1s\n        stages:\n\
         \x20         - name: shop\n            dsn: {shop}\n            sla: {SLA_SECS}s\n\
         \x20           query: \"SELECT id::text AS key, created_at AS seen_at FROM orders WHERE created_at > $1\"\n\
         \x20         - name: mes\n            dsn: {mes}\n\
         \x20           query: \"SELECT order_ref AS `key`, received_at AS seen_at FROM jobs WHERE received_at > $1\"\n\
         exporters:\n  otlp:\n    protocol: {protocol}\n    endpoints: [\"http://127.0.0.1:{port}\"]\n\
         \x20   flush_interval: 200ms\n    timeout: 2s\n\
         \x20   retry:\n      initial_backoff: 100ms\n      max_backoff: 500ms\n\
         \x20   buffer:\n      path: {buffer}\n",
        state = dir.join("flow").display(),
        shop = dbs.shop.url(),
        mes = dbs.mes.url(),
        buffer = dir.join("agent-buffer").display(),
    )
}

fn metrics(c: &Collector) -> String {
    http_get(&c.metrics, "/metrics")
        .map(|(_, b)| b)
        .unwrap_or_default()
}

/// Polls the collector's `/metrics` until `prefix` with `labels` equals `want`.
fn wait_metric(c: &Collector, prefix: &str, labels: &[&str], want: f64, what: &str, agent: &Proc) {
    wait_for(Duration::from_secs(60), || {
        (metric(&metrics(c), prefix, labels) == Some(want)).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "{what}: {prefix}{labels:?} never reached {want}\n/metrics:\n{}\n\nagent log:\n{}\n\ncollector log:\n{}",
            metrics(c),
            agent.output(),
            c.proc.output()
        )
    });
}

/// Waits until the agent has run the flow integration twice more (its
/// `dozor_agent_scrapes_total{integration="flow"}` through the collector) and its logs outbox
/// is empty again, so that a check after it sees anything those runs would have sent.
fn two_more_flow_runs(c: &Collector, agent: &Proc) {
    let flow = ["integration=\"flow\""];
    let runs = || metric(&metrics(c), "dozor_agent_scrapes_total", &flow);
    let now = wait_for(Duration::from_secs(20), runs).expect("no flow runs counted");
    wait_for(Duration::from_secs(60), || {
        runs().filter(|r| *r >= now + 2.0)
    })
    .unwrap_or_else(|| panic!("the flow stopped running:\n{}", agent.output()));
    let logs = ["signal=\"logs\""];
    wait_metric(
        c,
        "dozor_agent_buffer_pending_records",
        &logs,
        0.0,
        "logs outbox drained",
        agent,
    );
}

/// Log records the agent's ledger lines say it appended to its logs outbox.
fn appended_log_records(log: &str) -> u64 {
    log.lines()
        .filter(|l| l.contains("Log records appended."))
        .filter_map(|l| {
            let rest = &l[l.find(" log_records=")? + " log_records=".len()..];
            rest.split(' ').next()?.parse::<u64>().ok()
        })
        .sum()
}

/// The agent's `dozor_flow_stage_lost_total` for orders/shop, as the collector exposes it.
const LOST: (&str, &[&str]) = (
    "dozor_flow_stage_lost_total",
    &["flow=\"orders\"", "stage=\"shop\""],
);
const INDEXED: (&str, &[&str]) = (
    "dozor_collector_elasticsearch_documents_total",
    &["outcome=\"indexed\""],
);
const SENT: (&str, &[&str]) = (
    "dozor_agent_export_log_records_total",
    &["outcome=\"sent\""],
);

/// Waits for the 3 documents and checks them against the withheld ids: nothing else in any
/// index, each `_id` its event id, the right key, stages, age and resource.
fn check_documents(es: &FakeEs, withheld: &BTreeSet<u64>, agent: &Proc, collector: &Collector) {
    let docs = wait_for(Duration::from_secs(60), || {
        let docs = es.documents(INDEX);
        (docs.len() >= withheld.len()).then_some(docs)
    })
    .unwrap_or_else(|| {
        panic!(
            "{:?} in Elasticsearch, want {withheld:?}\nagent log:\n{}\n\ncollector log:\n{}",
            es.documents(INDEX).keys().collect::<Vec<_>>(),
            agent.output(),
            collector.proc.output()
        )
    });
    let all = es.state.lock().unwrap().docs.len();
    assert_eq!(all, 3, "documents in every index: {all}, want 3");
    let keys: BTreeSet<u64> = docs
        .values()
        .map(|d| {
            d["attributes"]["dozor.flow.key"]
                .as_str()
                .unwrap_or_else(|| panic!("no key: {d}"))
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(&keys, withheld, "exactly the withheld orders: {docs:?}");
    for (id, d) in &docs {
        let a = &d["attributes"];
        assert_eq!(a["dozor.flow.event_id"], Value::from(id.as_str()), "{d}");
        assert_eq!(id.len(), 16, "{id}");
        assert_eq!(a["dozor.flow.name"], "orders", "{d}");
        assert_eq!(a["dozor.flow.stage"], "shop", "{d}");
        assert_eq!(a["dozor.flow.next_stage"], "mes", "{d}");
        let age = a["dozor.flow.age"]
            .as_f64()
            .unwrap_or_else(|| panic!("no age: {d}"));
        assert!(age >= SLA_SECS, "age {age} below the SLA: {d}");
        assert_eq!(d["event_name"], "dozor.flow.lost", "{d}");
        assert_eq!(d["scope"]["name"], "dozor.integration.flow", "{d}");
        let r = &d["resource"]["attributes"];
        assert_eq!(r["host.name"], HOST, "{d}");
        assert_eq!(r["service.instance.id"], INSTANCE, "{d}");
        assert_eq!(es.attempts(id), 1, "{id} sent more than once");
    }
    assert_eq!(es.items_with_status(201), 3, "created exactly 3 times");
    assert_eq!(es.items_with_status(409), 0, "no document sent twice");
}

/// Steady state: the 3 withheld orders become exactly 3 documents, and every count agrees.
#[test]
fn three_lost_orders_become_three_documents() {
    let withheld = withheld_ids();
    eprintln!("withheld order ids: {withheld:?}");
    let dbs = Databases::create("steady");
    orders(&dbs, &withheld);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let es = FakeEs::new();
    let collector = Collector::start(d, &collector_extra(d, &es));
    let agent = start_agent(d, "agent", &agent_config(d, &dbs, "http", collector.http));

    check_documents(&es, &withheld, &agent, &collector);
    wait_metric(&collector, INDEXED.0, INDEXED.1, 3.0, "indexed", &agent);
    wait_metric(
        &collector,
        LOST.0,
        LOST.1,
        3.0,
        "agent's lost count",
        &agent,
    );
    wait_metric(
        &collector,
        SENT.0,
        SENT.1,
        3.0,
        "agent's sent log records",
        &agent,
    );
    assert_eq!(
        appended_log_records(&agent.output()),
        3,
        "{}",
        agent.output()
    );
    let m = metrics(&collector);
    assert_eq!(
        metric(&m, "dozor_collector_outbox_batches", &[]),
        Some(0.0),
        "{m}"
    );
    // The agent's own counts agree with what the test wrote.
    let shop = ["flow=\"orders\"", "stage=\"shop\""];
    let mes = ["flow=\"orders\"", "stage=\"mes\""];
    wait_metric(
        &collector,
        "dozor_flow_stage_passed_total",
        &shop,
        997.0,
        "passed",
        &agent,
    );
    let m = metrics(&collector);
    assert_eq!(
        metric(&m, "dozor_flow_stage_entered_total", &shop),
        Some(1000.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "dozor_flow_stage_entered_total", &mes),
        Some(997.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "dozor_flow_stage_in_flight", &shop),
        Some(0.0),
        "{m}"
    );
    // Nothing more comes: two flow runs later, still 3 documents, each sent once.
    two_more_flow_runs(&collector, &agent);
    check_documents(&es, &withheld, &agent, &collector);
    assert_eq!(
        appended_log_records(&agent.output()),
        3,
        "{}",
        agent.output()
    );
}

/// Faults: Elasticsearch is down while the agent finds the losses and the collector accepts
/// them into its outbox; the collector is then killed (SIGKILL) and restarted, and only after
/// that does Elasticsearch come back. The restarted collector's outbox carries the events: it
/// receives nothing again, and still exactly 3 documents arrive, each once.
#[test]
fn lost_orders_survive_elasticsearch_down_and_a_collector_kill() {
    let withheld = withheld_ids();
    eprintln!("withheld order ids: {withheld:?}");
    let dbs = Databases::create("faults");
    orders(&dbs, &withheld);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut es = FakeEs::new();
    es.stop();
    let extra = collector_extra(d, &es);
    let mut collector = Collector::start(d, &extra);
    let agent = start_agent(d, "agent", &agent_config(d, &dbs, "grpc", collector.grpc));

    // The agent found the losses and the collector acknowledged them: they are in its outbox.
    wait_metric(
        &collector,
        LOST.0,
        LOST.1,
        3.0,
        "agent's lost count",
        &agent,
    );
    wait_metric(
        &collector,
        SENT.0,
        SENT.1,
        3.0,
        "agent's sent log records",
        &agent,
    );
    let m = metrics(&collector);
    assert_eq!(
        metric_sum(&m, "dozor_collector_received_log_records_total", &[]),
        3.0,
        "{m}"
    );
    assert!(
        metric(&m, "dozor_collector_outbox_batches", &[]).is_some_and(|b| b >= 1.0),
        "{m}"
    );
    assert!(es.documents(INDEX).is_empty());

    collector.kill();
    let collector = Collector::start_on(d, collector.ports(), &extra);
    // Restarted with Elasticsearch still down: the batches are still waiting, from disk.
    wait_for(Duration::from_secs(20), || {
        metric(&metrics(&collector), "dozor_collector_outbox_batches", &[]).filter(|b| *b >= 1.0)
    })
    .unwrap_or_else(|| {
        panic!(
            "the outbox is empty after the restart:\n{}",
            metrics(&collector)
        )
    });
    es.start();

    check_documents(&es, &withheld, &agent, &collector);
    wait_metric(&collector, INDEXED.0, INDEXED.1, 3.0, "indexed", &agent);
    wait_metric(
        &collector,
        "dozor_collector_outbox_batches",
        &[],
        0.0,
        "outbox drained",
        &agent,
    );
    let m = metrics(&collector);
    assert_eq!(
        metric_sum(&m, "dozor_collector_received_log_records_total", &[]),
        0.0,
        "the restarted collector received the events again instead of from its outbox:\n{m}"
    );
    assert_eq!(
        appended_log_records(&agent.output()),
        3,
        "{}",
        agent.output()
    );
    wait_metric(
        &collector,
        LOST.0,
        LOST.1,
        3.0,
        "agent's lost count",
        &agent,
    );
    two_more_flow_runs(&collector, &agent);
    check_documents(&es, &withheld, &agent, &collector);
    assert_eq!(
        appended_log_records(&agent.output()),
        3,
        "{}",
        agent.output()
    );
}
