//! Counters that Prometheus first sees above zero (#17), with the real agent, collector and
//! Prometheus: the agent runs, finds orders lost in its first reconciliation, drops points
//! while its collector is away and fails a query on every run, all before Prometheus starts.
//! Prometheus's first samples are already above zero; the alert rules of `alerts/` and the
//! order-flow dashboard's "lost" query must still see them, with the values the test caused.

use dozor_testkit::{Collector, Proc, Prometheus, http_get, pg, prom_result, wait_for};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Orders the shop has and the MES lacks, all older than the SLA: lost on the first look.
const LOST: u64 = 3;
const AGENT: &str = "born-e2e";

/// The value of the first series of `name` on the collector whose labels contain every one of
/// `parts`.
fn collector_value(addr: &str, name: &str, parts: &[&str]) -> Option<f64> {
    let (_, body) = http_get(addr, "/metrics").ok()?;
    body.lines()
        .filter(|l| l.starts_with(name) && parts.iter().all(|p| l.contains(p)))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

/// The alert `name` as Prometheus holds it (pending or firing): its state and value.
fn alert(prom: &str, name: &str) -> Option<(String, f64)> {
    let (_, body) = http_get(prom, "/api/v1/alerts").ok()?;
    let v: Value = serde_json::from_str(&body).ok()?;
    v["data"]["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["labels"]["alertname"] == name)
        .map(|a| {
            let value = a["value"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN);
            (a["state"].as_str().unwrap_or("").to_string(), value)
        })
}

/// The instant query of the order-flow dashboard's "Lost in the time range" panel, with its
/// variables set as Grafana would for one hour and every site, instance and flow.
fn dashboard_lost_query() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards/grafana/order-flow.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let panel = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["title"] == "Lost in the time range")
        .expect("the order-flow dashboard has its \"Lost in the time range\" panel");
    panel["targets"][0]["expr"]
        .as_str()
        .unwrap()
        .replace("$__range", "1h")
        .replace("$site", ".*")
        .replace("$instance", ".*")
        .replace("$flow", ".*")
}

#[test]
fn counters_first_seen_above_zero_still_alert_and_show() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = pg::Database::create("dozor_e2e_born");
    db.admin()
        .batch_execute(&format!(
            "CREATE TABLE orders (id bigint PRIMARY KEY, created_at timestamptz NOT NULL);
             CREATE TABLE mes_jobs (order_id bigint PRIMARY KEY, received_at timestamptz NOT NULL);
             INSERT INTO orders SELECT i, now() - interval '2 hours' FROM generate_series(1, 10) AS i;
             INSERT INTO mes_jobs SELECT i, now() - interval '2 hours' FROM generate_series(1, {}) AS i;",
            10 - LOST
        ))
        .unwrap();

    // The agent starts first, with its collector away and a buffer too small for what the
    // demo integration makes: it drops points, counted exactly.
    let ports = Collector::free_ports();
    std::fs::write(
        d.join("agent.yaml"),
        format!(
            r#"agent: {{interval: 1s, timeout: 1s, state_dir: "{state}"}}
resource: {{instance_id: {AGENT}, attributes: {{site: e2e, role: server}}}}
exporters:
  otlp:
    endpoints: ["http://127.0.0.1:{grpc}"]
    flush_interval: 200ms
    retry: {{initial_backoff: 100ms, max_backoff: 500ms}}
    buffer: {{max_bytes: 16384, segment_bytes: 4096, when_full: drop_oldest}}
integrations:
  host: {{enabled: false}}
  demo: {{enabled: true, interval: 200ms, series: 20}}
  flow:
    enabled: true
    interval: 1s
    flows:
      - name: orders
        stages:
          - name: shop
            dsn: "{dsn}"
            query: "SELECT id::text AS key, created_at AS seen_at FROM orders WHERE created_at > $1"
            sla: 10m
          - name: mes
            dsn: "{dsn}"
            query: "SELECT order_id::text AS key, received_at AS seen_at FROM mes_jobs WHERE received_at > $1"
  sql:
    enabled: true
    interval: 1s
    queries:
      - name: broken
        dsn: "{dsn}"
        sql: SELECT count(*) AS n FROM no_such_table
        metrics: [{{name: sql_broken_n, value_column: n}}]
"#,
            state = d.join("state").display(),
            grpc = ports.0,
            dsn = db.url(),
        ),
    )
    .unwrap();
    let agent = Proc::spawn(
        "agent",
        d,
        Command::new(dozor_testkit::bin("dozor-agent"))
            .arg("--config")
            .arg(d.join("agent.yaml")),
    );
    std::thread::sleep(Duration::from_secs(4));
    let collector = Collector::start_on(d, ports, "");
    let metrics = collector.metrics.clone();

    // Everything the test caused has reached the collector, above zero.
    let lost = wait_for(Duration::from_secs(30), || {
        collector_value(&metrics, "dozor_flow_stage_lost_total", &["stage=\"shop\""])
            .filter(|v| *v == LOST as f64)
    });
    assert!(
        lost.is_some(),
        "no lost orders at the collector:\n{}",
        agent.output()
    );
    let dropped = wait_for(Duration::from_secs(30), || {
        collector_value(
            &metrics,
            "dozor_agent_export_points_total",
            &["outcome=\"dropped\""],
        )
        .filter(|v| *v > 0.0)
    })
    .unwrap_or_else(|| panic!("the agent dropped nothing:\n{}", agent.output()));
    let errors = wait_for(Duration::from_secs(30), || {
        let broken = ["sql/broken", "error_type=\"query\""];
        collector_value(&metrics, "dozor_agent_scrape_errors_total", &broken).filter(|v| *v > 1.0)
    })
    .unwrap_or_else(|| {
        let (_, body) = http_get(&metrics, "/metrics").unwrap_or_default();
        let ours: Vec<&str> = body.lines().filter(|l| l.contains("scrape")).collect();
        panic!(
            "no scrape errors of the broken query at the collector:\n{ours:#?}\n{}",
            agent.output()
        )
    });
    // The drops are over once the collector takes the batches: the count stays put.
    let mut last = dropped;
    let dropped = wait_for(Duration::from_secs(30), || {
        std::thread::sleep(Duration::from_secs(2));
        let now = collector_value(
            &metrics,
            "dozor_agent_export_points_total",
            &["outcome=\"dropped\""],
        )?;
        let settled = (now == last).then_some(now);
        last = now;
        settled
    })
    .expect("the agent kept dropping with its collector up");
    eprintln!("before Prometheus: lost {LOST}, dropped {dropped}, scrape errors {errors}");

    // Prometheus only now: its first sample of each is already above zero.
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../alerts");
    let prometheus = Prometheus::start(
        d,
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files: ['{rules}/flow.rules.yml', '{rules}/dozor.rules.yml']\n\
             scrape_configs:\n  - job_name: dozor-collector\n    honor_labels: true\n    static_configs:\n      - targets: ['{metrics}']\n",
            rules = rules.display()
        ),
    );
    let prom = prometheus.addr.clone();

    // OrderFlowOrdersLost fires (no `for:`) with the number of orders lost.
    let flow = wait_for(Duration::from_secs(60), || {
        alert(&prom, "OrderFlowOrdersLost").filter(|(state, _)| state == "firing")
    })
    .expect("OrderFlowOrdersLost never fired for a stage first seen above zero");
    assert_eq!(flow.1, LOST as f64, "OrderFlowOrdersLost's value");
    // DozorAgentDroppingData (`for: 1m`) holds the exact number of points dropped.
    let drop = wait_for(Duration::from_secs(30), || {
        alert(&prom, "DozorAgentDroppingData")
    })
    .expect("DozorAgentDroppingData is not even pending");
    assert_eq!(
        drop.1, dropped,
        "DozorAgentDroppingData's value ({})",
        drop.0
    );
    // DozorAgentScrapeErrors (`for: 15m`): every run of the broken query failed.
    let scrape = wait_for(Duration::from_secs(30), || {
        alert(&prom, "DozorAgentScrapeErrors").filter(|(_, v)| *v > 0.1)
    })
    .expect("DozorAgentScrapeErrors is not pending for a query that fails every run");
    eprintln!("alerts: flow {flow:?}, drop {drop:?}, scrape errors {scrape:?}");

    // The dashboard's lost panel counts the same orders.
    let query = dashboard_lost_query();
    let shown = prom_result(&prom, &query);
    let value: f64 = shown
        .iter()
        .find(|s| s["metric"]["stage"] == "shop")
        .and_then(|s| s["value"][1].as_str()?.parse().ok())
        .unwrap_or_else(|| panic!("the lost panel shows nothing for stage shop: {shown:?}"));
    assert_eq!(value, LOST as f64, "the lost panel ({query})");
}
