//! Alert routing end to end (#16): a real fault goes through the whole chain and comes out as
//! Alertmanager webhook notifications, with the shipped routing, grouping and inhibition.
//!
//! Chain: a TCP service the test runs -> two real agents (sites `plant-1` and `plant-2`, role
//! `server`) probing it (`integrations.probes`) -> a real collector -> Debian's Prometheus
//! scraping the collector's `/metrics` every second and evaluating every `alerts/*.rules.yml`
//! every second -> Debian's `prometheus-alertmanager` on
//! `deploy/alertmanager/alertmanager.yml` itself -> a webhook receiver of the test.
//!
//! What the test changes, and nothing else:
//!
//! - In the Alertmanager config, only addresses, paths and timings: the on-call webhook URL
//!   points at the test's receiver, the Telegram API and the SMTP smarthost at dead loopback
//!   addresses, `/etc/prometheus/secrets/` at a directory of the test (the bearer token of the
//!   on-call webhook is read from there, and the receiver checks it arrives), and
//!   `group_wait: 30s` / `group_interval: 5m` become `1s` / `2s`. Routes, `group_by` and
//!   `inhibit_rules` are the shipped ones.
//! - In the rule files, three rules are made fast by a textual substitution (each one asserted
//!   to match, so a changed rule fails here loudly instead of testing nothing):
//!   ProbeTargetFailing's `[5m]` window and `for: 5m` become `[5s]` and `for: 2s`;
//!   DozorAgentSilent's `> 180` seconds and `for: 2m` become `> 10` and `for: 2s`;
//!   DozorCollectorDown's `for: 5m` becomes `for: 2s`. Expressions, labels and annotations
//!   (the runbook links) are otherwise the repository's.
//!
//! Phases: (1) the service stops: ProbeTargetFailing fires at both sites and arrives at the
//! on-call webhook as two notifications (one group per site, two group keys), status firing,
//! with the site label and the runbook link; (2) the service comes back: both resolve;
//! (3) the collector is killed: DozorCollectorDown is delivered, while DozorAgentSilent (both
//! agents) is held back by the inhibition rule: Alertmanager's `/api/v2/alerts` lists it as
//! suppressed with `status.inhibitedBy`, and the webhook never gets it.

use dozor_testkit::{
    Collector, Proc, Prometheus, free_port, http_get, start_agent, tool, wait_for,
};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the webhook receiver got: path, `Authorization` header, JSON body, when.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    authorization: String,
    body: Value,
    at: Instant,
}

/// A tiny HTTP server collecting every POST it receives; answers 200 to all.
fn webhook() -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            if let Some(r) = read_request(conn) {
                sink.lock().unwrap().push(r);
            }
        }
    });
    (port, got)
}

fn read_request(conn: TcpStream) -> Option<Received> {
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let (mut length, mut authorization) = (0usize, String::new());
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "authorization" => authorization = value.trim().to_string(),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let mut conn = conn;
    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    Some(Received {
        path,
        authorization,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        at: Instant::now(),
    })
}

/// The "service" the agents probe: a TCP listener on a fixed port, accepting while `up`.
struct Service {
    port: u16,
    up: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Service {
    fn start(port: u16) -> Service {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("binding the service port");
        listener.set_nonblocking(true).unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let running = up.clone();
        let thread = std::thread::spawn(move || {
            while running.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((c, _)) => drop(c),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Service {
            port,
            up,
            thread: Some(thread),
        }
    }

    /// Stops accepting and closes the port: connections are refused from now on.
    fn stop(mut self) -> u16 {
        self.up.store(false, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.port
    }
}

/// `text` with `from` replaced by `to`, which must occur exactly once.
fn substitute(text: &str, from: &str, to: &str, what: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "{what}: expected {from:?} exactly once; the shipped file changed, update this test"
    );
    text.replacen(from, to, 1)
}

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Every rule file of `alerts/` copied to `<dir>/rules`, with the documented substitutions.
fn rules(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("rules");
    std::fs::create_dir_all(&out).unwrap();
    for entry in std::fs::read_dir(repo().join("alerts")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".rules.yml") {
            continue;
        }
        let mut text = std::fs::read_to_string(&path).unwrap();
        if name == "network.rules.yml" {
            text = substitute(
                &text,
                "avg_over_time(dozor_probe_success[5m]) < 0.5\n        for: 5m\n",
                "avg_over_time(dozor_probe_success[5s]) < 0.5\n        for: 2s\n",
                "ProbeTargetFailing",
            );
        }
        if name == "dozor.rules.yml" {
            text = substitute(
                &text,
                "[1d])\n          ) > 180\n        for: 2m\n",
                "[1d])\n          ) > 10\n        for: 2s\n",
                "DozorAgentSilent",
            );
            text = substitute(
                &text,
                "absent(up{job=\"dozor-collector\"})\n        for: 5m\n",
                "absent(up{job=\"dozor-collector\"})\n        for: 2s\n",
                "DozorCollectorDown",
            );
        }
        std::fs::write(out.join(&name), text).unwrap();
    }
    out
}

/// The shipped Alertmanager config with the test's addresses, secrets and timings.
fn alertmanager_config(dir: &Path, webhook: u16) -> String {
    let shipped =
        std::fs::read_to_string(repo().join("deploy/alertmanager/alertmanager.yml")).unwrap();
    let secrets = dir.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(secrets.join("oncall_token"), "test-oncall-token\n").unwrap();
    std::fs::write(secrets.join("smtp_password"), "test-smtp-password\n").unwrap();
    let dead = free_port();
    let mut c = shipped.replace(
        "/etc/prometheus/secrets/",
        &format!("{}/", secrets.display()),
    );
    c = substitute(
        &c,
        "https://oncall.example.org/alertmanager",
        &format!("http://127.0.0.1:{webhook}/oncall"),
        "on-call URL",
    );
    c = substitute(
        &c,
        "smtp.example.org:587",
        &format!("127.0.0.1:{dead}"),
        "smarthost",
    );
    c = substitute(
        &c,
        "      - bot_token:",
        &format!("      - api_url: http://127.0.0.1:{dead}\n        bot_token:"),
        "Telegram receiver",
    );
    c = substitute(&c, "group_wait: 30s", "group_wait: 1s", "group_wait");
    substitute(
        &c,
        "group_interval: 5m",
        "group_interval: 2s",
        "group_interval",
    )
}

fn start_alertmanager(dir: &Path, config: &str) -> (Proc, String) {
    let file = dir.join("alertmanager.yml");
    std::fs::write(&file, config).unwrap();
    let check = Command::new(tool("amtool", "prometheus-alertmanager"))
        .arg("check-config")
        .arg(&file)
        .output()
        .expect("running amtool");
    assert!(
        check.status.success(),
        "amtool check-config: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let addr = format!("127.0.0.1:{}", free_port());
    let proc = Proc::spawn(
        "alertmanager",
        dir,
        Command::new(tool("prometheus-alertmanager", "prometheus-alertmanager"))
            .arg(format!("--config.file={}", file.display()))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg(format!("--web.listen-address={addr}"))
            // No cluster: no gossip port, no peers.
            .arg("--cluster.listen-address="),
    );
    wait_for(Duration::from_secs(30), || {
        http_get(&addr, "/-/ready").ok().filter(|(s, _)| *s == 200)
    })
    .unwrap_or_else(|| panic!("Alertmanager did not become ready:\n{}", proc.output()));
    (proc, addr)
}

fn agent_config(d: &Path, name: &str, site: &str, grpc: u16, service: u16) -> String {
    format!(
        r#"agent: {{interval: 1s, timeout: 1s}}
resource: {{instance_id: {name}, attributes: {{site: {site}, role: server}}}}
exporters:
  otlp:
    endpoints: ["http://127.0.0.1:{grpc}"]
    flush_interval: 200ms
    buffer: {{path: "{buffer}"}}
integrations:
  host: {{enabled: false}}
  probes:
    enabled: true
    interval: 500ms
    targets:
      - {{name: orders-db, tcp: {{address: "127.0.0.1:{service}"}}}}
"#,
        buffer = d.join(format!("buffer-{name}")).display()
    )
}

/// The on-call notifications received so far for `alertname`, with status `status`.
fn notifications(got: &Mutex<Vec<Received>>, alertname: &str, status: &str) -> Vec<Received> {
    got.lock()
        .unwrap()
        .iter()
        .filter(|r| {
            r.path == "/oncall"
                && r.body["status"] == status
                && r.body["groupLabels"]["alertname"] == alertname
        })
        .cloned()
        .collect()
}

/// The alerts named `alertname` that Alertmanager holds, from `/api/v2/alerts`.
fn am_alerts(am: &str, alertname: &str) -> Vec<Value> {
    let Ok((200, body)) = http_get(am, "/api/v2/alerts") else {
        return vec![];
    };
    let all: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    all.as_array()
        .map(|a| {
            a.iter()
                .filter(|x| x["labels"]["alertname"] == alertname)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// When the last of `ns` arrived.
fn last(ns: &[Received]) -> Instant {
    ns.iter().map(|n| n.at).max().unwrap()
}

fn sites(ns: &[Received]) -> Vec<String> {
    let mut s: Vec<String> = ns
        .iter()
        .map(|n| {
            n.body["groupLabels"]["site"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    s.sort();
    s.dedup();
    s
}

#[test]
fn a_fault_is_routed_grouped_by_site_resolved_and_inhibited_by_collector_down() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let logs = |what: &str| {
        let mut out = format!("{what}\n");
        for f in ["alertmanager.log", "prometheus.log", "collector.log"] {
            let text = std::fs::read_to_string(d.join(f)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            out.push_str(&format!(
                "--- {f} (last lines, newest first)\n{}\n",
                tail.join("\n")
            ));
        }
        out
    };

    let (hook, got) = webhook();
    let (_am_proc, am) = start_alertmanager(d, &alertmanager_config(d, hook));
    let mut collector = Collector::start(d, "");
    let (grpc, _, metrics) = collector.ports();
    let service = Service::start(free_port());
    let rule_dir = rules(d);
    let prometheus = Prometheus::start(
        d,
        &format!(
            r#"global: {{scrape_interval: 1s, evaluation_interval: 1s}}
alerting:
  alertmanagers:
    - static_configs: [{{targets: ["{am}"]}}]
rule_files: ["{rules}/*.rules.yml"]
scrape_configs:
  - job_name: dozor-collector
    honor_labels: true
    static_configs: [{{targets: ["{metrics}"]}}]
"#,
            rules = rule_dir.display()
        ),
    );
    let _a1 = start_agent(
        d,
        "srv-1",
        &agent_config(d, "srv-1", "plant-1", grpc, service.port),
    );
    let _a2 = start_agent(
        d,
        "srv-2",
        &agent_config(d, "srv-2", "plant-2", grpc, service.port),
    );

    // Both sites' probes succeed in Prometheus before the fault.
    wait_for(Duration::from_secs(30), || {
        let ok = dozor_testkit::prom_result(
            &prometheus.addr,
            "count(avg_over_time(dozor_probe_success[5s]) == 1)",
        );
        (ok.first()?["value"][1] == "2").then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "{}",
            logs("no successful probes of both sites in Prometheus")
        )
    });

    // (1) The service stops.
    let port = service.stop();
    let stopped = Instant::now();
    let firing = wait_for(Duration::from_secs(60), || {
        let n = notifications(&got, "ProbeTargetFailing", "firing");
        (sites(&n) == ["plant-1", "plant-2"]).then_some(n)
    })
    .unwrap_or_else(|| {
        panic!(
            "{}",
            logs(&format!(
                "no firing ProbeTargetFailing of both sites: {:?}",
                got.lock().unwrap()
            ))
        )
    });
    let firing_after = last(&firing) - stopped;
    for n in &firing {
        let b = &n.body;
        assert_eq!(b["receiver"], "on-call", "{b}");
        assert_eq!(
            n.authorization, "Bearer test-oncall-token",
            "token from the file"
        );
        let site = b["groupLabels"]["site"].as_str().unwrap();
        let alerts = b["alerts"].as_array().unwrap();
        assert_eq!(alerts.len(), 1, "one alert per site's group: {b}");
        let a = &alerts[0];
        assert_eq!(a["status"], "firing");
        assert_eq!(a["labels"]["site"], site);
        assert_eq!(a["labels"]["severity"], "critical");
        assert_eq!(a["labels"]["probe_target"], "orders-db");
        assert_eq!(
            a["annotations"]["runbook_url"],
            "https://github.com/dozor-observability/dozor/blob/main/docs/runbooks/network.md#probetargetfailing"
        );
    }
    // Grouping by site: the two sites are two groups, two keys.
    let mut keys: Vec<&str> = firing
        .iter()
        .map(|n| n.body["groupKey"].as_str().unwrap())
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 2, "one group key per site: {keys:?}");
    // The runbook anchor exists.
    let runbook = std::fs::read_to_string(repo().join("docs/runbooks/network.md")).unwrap();
    assert!(runbook.lines().any(|l| l == "## ProbeTargetFailing"));

    // (2) The service comes back on the same port.
    let _service = Service::start(port);
    let restarted = Instant::now();
    let resolved = wait_for(Duration::from_secs(60), || {
        let n = notifications(&got, "ProbeTargetFailing", "resolved");
        (sites(&n) == ["plant-1", "plant-2"]).then_some(n)
    })
    .unwrap_or_else(|| panic!("{}", logs("no resolved ProbeTargetFailing of both sites")));
    let resolved_after = last(&resolved) - restarted;
    for n in &resolved {
        let a = &n.body["alerts"][0];
        assert_eq!(a["status"], "resolved", "{}", n.body);
        assert!(
            a["annotations"]["runbook_url"]
                .as_str()
                .unwrap()
                .ends_with("docs/runbooks/network.md#probetargetfailing")
        );
    }

    // (3) The collector dies: DozorCollectorDown is delivered; DozorAgentSilent is inhibited.
    collector.kill();
    let killed = Instant::now();
    let (down, silent) = wait_for(Duration::from_secs(60), || {
        let down = notifications(&got, "DozorCollectorDown", "firing");
        let silent = am_alerts(&am, "DozorAgentSilent");
        let both_sites = silent.len() == 2;
        (!down.is_empty() && both_sites).then_some((down, silent))
    })
    .unwrap_or_else(|| {
        panic!(
            "{}",
            logs(&format!(
                "no DozorCollectorDown notification with both agents' DozorAgentSilent in Alertmanager: {:?}",
                http_get(&am, "/api/v2/alerts")
            ))
        )
    });
    let down_after = down[0].at - killed;
    assert_eq!(down[0].body["receiver"], "on-call");
    assert_eq!(
        down[0].body["alerts"][0]["labels"]["job"],
        "dozor-collector"
    );
    for a in &silent {
        assert_eq!(a["status"]["state"], "suppressed", "{a}");
        let by = a["status"]["inhibitedBy"].as_array().unwrap();
        assert_eq!(by.len(), 1, "inhibited by DozorCollectorDown: {a}");
    }
    // Three group intervals later the inhibited alert has still not been sent.
    std::thread::sleep(Duration::from_secs(6));
    let leaked: Vec<Received> = got
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.body.to_string().contains("DozorAgentSilent"))
        .cloned()
        .collect();
    assert!(leaked.is_empty(), "inhibited alert delivered: {leaked:?}");
    eprintln!(
        "timings (informative, not asserted): both sites' firing notifications {firing_after:?} after the service stopped, \
         both resolved {resolved_after:?} after it came back, DozorCollectorDown {down_after:?} after the collector was killed"
    );
}
