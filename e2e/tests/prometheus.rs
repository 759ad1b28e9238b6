//! End to end: the real collector and agent, a real Prometheus (Debian package) scraping the
//! collector. Checks that a PromQL query for the agent's CPU time returns the agent's host, that
//! the exposition passes `promtool check metrics`, that every dashboard query executes, and that
//! after the agent stops its last-seen age grows and its series go stale.

use dozor_testkit::{Collector, Proc, Prometheus, bin, http_get, prom_result, tool, wait_for};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const AGENT: &str = "e2e-agent-1";

#[test]
fn agent_collector_prometheus() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let collector = Collector::start(d, "store:\n  series_ttl: 6s\n");
    let grpc = collector.grpc;
    let collector_addr = collector.metrics.clone();
    std::fs::write(
        d.join("agent.yaml"),
        format!(
            "agent:\n  interval: 1s\n  timeout: 1s\n\
             resource:\n  instance_id: {AGENT}\n  attributes:\n    site: e2e\n    role: server\n\
             exporters:\n  otlp:\n    endpoints: [\"http://127.0.0.1:{grpc}\"]\n    flush_interval: 500ms\n    buffer:\n      path: {}\n",
            d.join("buffer").display()
        ),
    )
    .unwrap();
    let mut agent = Proc::spawn(
        "agent",
        d,
        Command::new(bin("dozor-agent"))
            .arg("--config")
            .arg(d.join("agent.yaml")),
    );
    let prometheus = Prometheus::start(
        d,
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: dozor-collector\n    honor_labels: true\n    static_configs:\n      - targets: ['{collector_addr}']\n"
        ),
    );
    let prom_addr = prometheus.addr.clone();

    // A PromQL query for the agent's CPU time returns the agent's host.
    let cpu = format!("system_cpu_time_seconds_total{{instance=\"{AGENT}\",cpu_mode=\"user\"}}");
    let series = wait_for(Duration::from_secs(60), || {
        Some(prom_result(&prom_addr, &cpu)).filter(|r| !r.is_empty())
    })
    .unwrap_or_else(|| {
        panic!(
            "no CPU time for {AGENT} in Prometheus.\nagent log:\n{}",
            agent.output()
        )
    });
    let labels = &series[0]["metric"];
    assert_eq!(labels["job"], "dozor-agent");
    assert_eq!(labels["site"], "e2e");
    assert_eq!(labels["role"], "server");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let info = prom_result(&prom_addr, &format!("target_info{{instance=\"{AGENT}\"}}"));
    assert_eq!(info.len(), 1, "target_info: {info:?}");
    assert_eq!(info[0]["metric"]["host_name"], host.as_str());

    check_exposition_with_promtool(&collector_addr);
    run_every_dashboard_query(&prom_addr);

    // The agent stops: its last-seen age grows and its series go stale.
    let status = agent
        .terminate(Duration::from_secs(15))
        .expect("agent did not stop on SIGTERM");
    assert!(status.success(), "agent exited with {status}");
    let age =
        format!("time() - dozor_collector_agent_last_seen_timestamp_seconds{{agent=\"{AGENT}\"}}");
    wait_for(Duration::from_secs(30), || {
        let r = prom_result(&prom_addr, &age);
        let v: f64 = r.first()?["value"][1].as_str()?.parse().ok()?;
        (v > 4.0).then_some(())
    })
    .expect("last-seen age did not grow after the agent stopped");
    wait_for(Duration::from_secs(30), || {
        prom_result(&prom_addr, &cpu).is_empty().then_some(())
    })
    .expect("the agent's series did not go stale after series_ttl");
    // The fleet view remembers the agent after its series are gone (agent_ttl), so alerts fire.
    assert_eq!(
        prom_result(&prom_addr, &age).len(),
        1,
        "fleet entry vanished with the series"
    );
}

fn check_exposition_with_promtool(collector: &str) {
    let (status, body) = http_get(collector, "/metrics").expect("scraping the collector");
    assert_eq!(status, 200);
    assert!(
        body.contains("\nsystem_cpu_time_seconds_total{"),
        "no CPU time in exposition"
    );
    assert!(
        body.contains("container_memory_usage_total_bytes{"),
        "no container series in exposition"
    );
    let mut child = Command::new(tool("promtool", "prometheus"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.trim().is_empty(),
        "promtool check metrics found problems:\n{text}"
    );
}

/// Every panel and variable query of every Grafana dashboard runs against the real Prometheus
/// without error, with Grafana's variables replaced as Grafana would for "All".
fn run_every_dashboard_query(prom: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards/grafana");
    let mut queries = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("dashboards/grafana") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            collect_exprs(&v, &path, &mut queries);
        }
    }
    assert!(
        queries.len() > 20,
        "too few dashboard queries found: {}",
        queries.len()
    );
    let mut failures = Vec::new();
    let mut with_data = 0;
    for (file, expr) in &queries {
        let promql = substitute(expr);
        let v = dozor_testkit::prom_query(prom, &promql);
        if v["status"] != "success" {
            failures.push(format!("{}: {promql}: {}", file.display(), v["error"]));
        } else if v["data"]["result"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
        {
            with_data += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "dashboard queries failed:\n{}",
        failures.join("\n")
    );
    eprintln!(
        "{} dashboard queries ran, {with_data} returned data",
        queries.len()
    );
}

fn collect_exprs(v: &serde_json::Value, file: &Path, out: &mut Vec<(std::path::PathBuf, String)>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, val) in map {
                if let ("expr", serde_json::Value::String(s)) = (k.as_str(), val) {
                    out.push((file.to_path_buf(), s.clone()));
                } else if let ("query", serde_json::Value::Object(q)) = (k.as_str(), val) {
                    if let Some(serde_json::Value::String(s)) = q.get("query") {
                        out.push((file.to_path_buf(), variable_query(s)));
                    }
                } else {
                    collect_exprs(val, file, out);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_exprs(i, file, out)),
        _ => {}
    }
}

/// `label_values(metric{...}, label)` variable queries become the selector they read.
fn variable_query(q: &str) -> String {
    match q
        .strip_prefix("label_values(")
        .and_then(|r| r.strip_suffix(')'))
    {
        Some(inner) => match inner.rsplit_once(',') {
            Some((selector, _)) => selector.trim().to_string(),
            None => "up".to_string(),
        },
        None => q.to_string(),
    }
}

fn substitute(expr: &str) -> String {
    expr.replace("${__rate_interval}", "1m")
        .replace("$__rate_interval", "1m")
        .replace("$__interval", "15s")
        .replace("$__range", "5m")
        .replace("${site}", ".*")
        .replace("${instance}", ".*")
        .replace("$site", ".*")
        .replace("$instance", ".*")
}
