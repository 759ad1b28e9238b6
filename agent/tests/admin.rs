//! The admin endpoint and `dozor-agent status` / `check` (issue #15), against the real agent
//! binary, the real collector and the real PostgreSQL, in the states that matter: healthy,
//! collector down, wrong token, untrusted CA, buffer full, a role without `pg_monitor`, an
//! integration and an exporter that hang. For each, the first line of `status` names the
//! problem and its fix, and the exit code says it (0 healthy, 1 attention, 3 unreachable).

use dozor_testkit::{Collector, Proc, free_port, pg, wait_for};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const AGENT: &str = env!("CARGO_BIN_EXE_dozor-agent");

/// A config: demo integration every 200 ms, `otlp` lines under `exporters.otlp`, `extra` at the
/// end (more integrations), the admin endpoint on `admin` (`host:port`).
fn config(dir: &Path, endpoint: &str, admin: &str, otlp: &str, extra: &str) -> String {
    format!(
        "agent:\n  interval: 1s\n  timeout: 2s\nresource:\n  instance_id: admin-test\n\
         admin:\n  listen: {admin}\n\
         exporters:\n  otlp:\n    endpoints: [\"{endpoint}\"]\n    flush_interval: 200ms\n    timeout: 2s\n\
         \x20   retry:\n      initial_backoff: 100ms\n      max_backoff: 500ms\n\
         \x20   circuit_breaker:\n      failures: 2\n      cooldown: 1s\n\
         \x20   buffer:\n      path: {}\n{otlp}\
         integrations:\n  host:\n    enabled: false\n  demo:\n    enabled: true\n    interval: 200ms\n    series: 20\n{extra}",
        dir.join("buffer").display()
    )
}

/// The agent running `config`, written to `<dir>/agent.yaml`.
fn agent(dir: &Path, config: &str) -> (Proc, PathBuf) {
    let path = dir.join("agent.yaml");
    std::fs::write(&path, config).unwrap();
    let proc = Proc::spawn(
        "agent",
        dir,
        Command::new(AGENT)
            .arg("--config")
            .arg(&path)
            .env_remove("DOZOR_LOG"),
    );
    (proc, path)
}

/// `dozor-agent <args>`: exit code, stdout, stderr and how long it took.
fn cli(args: &[&str]) -> (i32, String, String, Duration) {
    let started = Instant::now();
    let out = Command::new(AGENT)
        .args(args)
        .env_remove("DOZOR_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

/// `status` with the agent's config: exit code and output.
fn status(config: &Path) -> (i32, String) {
    let (code, out, err, took) = cli(&["--config", config.to_str().unwrap(), "status"]);
    assert!(took < Duration::from_secs(10), "status took {took:?}");
    assert!(err.is_empty() || code != 0, "stderr: {err}");
    (code, out)
}

/// Waits until `status` exits with `code` and its first line contains every one of `words`;
/// returns the output.
fn wait_status(config: &Path, code: i32, words: &[&str], agent: &Proc) -> String {
    let mut last = String::new();
    let got = wait_for(Duration::from_secs(60), || {
        let (c, out) = status(config);
        let first = out.lines().next().unwrap_or("").to_string();
        last = format!("exit {c}:\n{out}");
        (c == code && words.iter().all(|w| first.contains(w))).then_some(out)
    });
    got.unwrap_or_else(|| {
        panic!(
            "status never exited {code} with {words:?} on its first line; last:\n{last}\nagent log:\n{}",
            agent.output()
        )
    })
}

fn admin_addr() -> String {
    format!("127.0.0.1:{}", free_port())
}

/// One raw HTTP/1.1 request: status code and body.
fn request(addr: &str, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, body.to_string())
}

/// A TCP server that accepts and never answers (held connections stay open).
fn black_hole() -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    (addr, handle)
}

#[test]
fn healthy_then_collector_down() {
    let dir = tempfile::tempdir().unwrap();
    let mut collector = Collector::start(dir.path(), "");
    let endpoint = format!("http://127.0.0.1:{}", collector.grpc);
    let admin = admin_addr();
    let (agent, cfg) = agent(dir.path(), &config(dir.path(), &endpoint, &admin, "", ""));
    let out = wait_status(&cfg, 0, &["OK:", "healthy", &endpoint], &agent);
    for part in [
        "Integrations:",
        "demo",
        "Buffer:",
        "metrics",
        "Export:",
        "connected",
    ] {
        assert!(out.contains(part), "{part} missing:\n{out}");
    }
    // The counters are published once a second: wait for the first points sent.
    let doc = wait_for(Duration::from_secs(30), || {
        let (code, json, _, _) = cli(&["--config", cfg.to_str().unwrap(), "status", "--json"]);
        assert_eq!(code, 0, "{json}");
        let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
        (doc["counters"]["points_sent"].as_u64() > Some(0)).then_some(doc)
    })
    .expect("no points sent");
    assert_eq!(doc["integrations"][0]["name"], "demo");
    assert_eq!(doc["integrations"][0]["result"], "ok");
    assert_eq!(doc["resource"]["service.instance.id"], "admin-test");
    assert_eq!(doc["config_file"], cfg.display().to_string());
    assert_eq!(doc["attention"], serde_json::json!([]));

    collector.kill();
    wait_status(
        &cfg,
        1,
        &[
            "ATTENTION:",
            &endpoint,
            "connection refused",
            "Fix: start the collector",
        ],
        &agent,
    );
}

#[test]
fn wrong_token_is_named_with_its_fix() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "admin-test tok-right-0123456789abcdef\n").unwrap();
    let collector = Collector::start(
        dir.path(),
        &format!("auth:\n  tokens_file: {}\n", tokens.display()),
    );
    let wrong = dir.path().join("agent.token");
    std::fs::write(&wrong, "tok-wrong-0123456789abcdef\n").unwrap();
    let endpoint = format!("http://127.0.0.1:{}", collector.grpc);
    let otlp = format!("    auth:\n      token_file: {}\n", wrong.display());
    let (agent, cfg) = agent(
        dir.path(),
        &config(dir.path(), &endpoint, &admin_addr(), &otlp, ""),
    );
    let out = wait_status(
        &cfg,
        1,
        &[
            "ATTENTION:",
            "refuses the agent's token",
            "Fix: set exporters.otlp.auth.token_file",
        ],
        &agent,
    );
    assert!(!out.contains("tok-wrong"), "the token is echoed:\n{out}");
}

fn certs() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

#[test]
fn untrusted_ca_is_named_with_its_fix() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key) = certs();
    let (other_ca, _, _) = certs();
    let p = |n: &str| dir.path().join(n);
    std::fs::write(p("cert.pem"), cert).unwrap();
    std::fs::write(p("key.pem"), key).unwrap();
    std::fs::write(p("other-ca.pem"), other_ca).unwrap();
    let tls = format!(
        "    tls:\n      cert_file: {}\n      key_file: {}\n",
        p("cert.pem").display(),
        p("key.pem").display()
    );
    let collector = Collector::start_tls(dir.path(), &tls, "");
    let endpoint = format!("https://localhost:{}", collector.grpc);
    let otlp = format!("    tls:\n      ca_file: {}\n", p("other-ca.pem").display());
    let (agent, cfg) = agent(
        dir.path(),
        &config(dir.path(), &endpoint, &admin_addr(), &otlp, ""),
    );
    wait_status(
        &cfg,
        1,
        &[
            "ATTENTION: TLS to collector",
            "not trusted",
            "Fix: set exporters.otlp.tls.ca_file",
        ],
        &agent,
    );
}

#[test]
fn full_buffer_comes_first_and_names_the_collector() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let otlp = "    logs:\n      buffer:\n        max_bytes: 65536\n        segment_bytes: 16384\n";
    let cfg = config(dir.path(), &endpoint, &admin_addr(), otlp, "")
        .replace(
            "    buffer:\n      path:",
            "    buffer:\n      max_bytes: 16384\n      segment_bytes: 4096\n      path:",
        )
        .replace("series: 20", "series: 200");
    let (agent, cfg) = agent(dir.path(), &cfg);
    let out = wait_status(
        &cfg,
        1,
        &[
            "ATTENTION: the metrics buffer is full",
            "data points dropped",
            "connection refused",
            "start the collector",
            "exporters.otlp.buffer.max_bytes",
        ],
        &agent,
    );
    assert!(out.contains("buffer_full="), "{out}");
}

/// A role that may log in but lacks `pg_monitor`, dropped on drop.
struct Role(String);

impl Drop for Role {
    fn drop(&mut self) {
        let _ = pg::admin("postgres").batch_execute(&format!("DROP ROLE IF EXISTS {}", self.0));
    }
}

#[test]
fn postgresql_role_without_pg_monitor_gets_the_grant() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path(), "");
    let db = pg::Database::create("admin_status");
    let role = Role(dozor_testkit::unique("nomonitor"));
    pg::admin("postgres")
        .batch_execute(&format!("CREATE ROLE {} LOGIN", role.0))
        .unwrap();
    let endpoint = format!("http://127.0.0.1:{}", collector.grpc);
    let extra = format!(
        "  postgresql:\n    enabled: true\n    instances:\n      - name: shop\n        dsn: host=127.0.0.1 port=5432 user={} dbname={}\n",
        role.0,
        db.name()
    );
    let (mut agent, cfg) = agent(
        dir.path(),
        &config(dir.path(), &endpoint, &admin_addr(), "", &extra),
    );
    let grant = format!("GRANT pg_monitor TO {}", role.0);
    wait_status(
        &cfg,
        1,
        &[
            "ATTENTION: integration postgresql/shop failed (permission)",
            &format!("Fix: as a superuser, run: {grant}"),
        ],
        &agent,
    );
    // `check` names the same problem on its first line, and exits 1.
    let (code, out, _, _) = cli(&[
        "--config",
        cfg.to_str().unwrap(),
        "check",
        "postgresql/shop",
    ]);
    let first = out.lines().next().unwrap_or_default();
    assert_eq!(code, 1, "{out}");
    assert!(
        first.contains("ERROR: postgresql/shop failed") && first.contains("(permission)"),
        "{out}"
    );
    assert!(
        first.contains("Fix:") && first.contains("pg_monitor"),
        "{out}"
    );
    // The fix is the fix: granted, the same agent becomes healthy.
    pg::admin("postgres").batch_execute(&grant).unwrap();
    wait_status(&cfg, 0, &["OK:", "healthy"], &agent);
    agent.kill();
}

/// Every subsystem stuck: the collector and the PostgreSQL server accept connections and never
/// answer. `status` still answers within 10 s (checked on every call) and names the hung run.
#[test]
fn hung_integration_and_stuck_exporter_still_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (collector, _c) = black_hole();
    let (postgres, _p) = black_hole();
    let (host, port) = postgres.split_once(':').unwrap();
    let endpoint = format!("http://{collector}");
    let extra = format!(
        "  postgresql:\n    enabled: true\n    instances:\n      - name: stuck\n        dsn: host={host} port={port} user=postgres dbname=postgres\n"
    );
    let cfg = config(dir.path(), &endpoint, &admin_addr(), "", &extra)
        .replace("    timeout: 2s\n", "    timeout: 60s\n");
    let (agent, cfg) = agent(dir.path(), &cfg);
    let out = wait_status(
        &cfg,
        1,
        &[
            "ATTENTION: integration postgresql/stuck failed (timeout)",
            "Fix:",
            "integrations.postgresql.timeout",
        ],
        &agent,
    );
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("postgresql/stuck") && l.contains(" timeout ")),
        "{out}"
    );
    // `check` of the hung integration gives up at its timeout (2 s) and says so first.
    let (code, out, _, took) = cli(&[
        "--config",
        cfg.to_str().unwrap(),
        "check",
        "postgresql/stuck",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(took < Duration::from_secs(10), "check took {took:?}");
    let first = out.lines().next().unwrap_or_default();
    assert!(
        first.contains("ERROR: postgresql/stuck failed") && first.contains("timeout"),
        "{out}"
    );
}

#[test]
fn admin_endpoint_asks_for_its_token_and_is_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let token = "adm-5d1e0c9a7b3f4e2d";
    let token_file = dir.path().join("admin.token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let admin = admin_addr();
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let cfg = config(dir.path(), &endpoint, &admin, "", "").replace(
        "admin:\n",
        &format!("admin:\n  token_file: {}\n", token_file.display()),
    );
    let (agent, cfg) = agent(dir.path(), &cfg);
    let up = wait_for(Duration::from_secs(30), || {
        TcpStream::connect(&admin).ok().map(|_| ())
    });
    assert!(up.is_some(), "{}", agent.output());
    assert_eq!(request(&admin, "GET", "/v1/status", None).0, 401);
    assert_eq!(
        request(&admin, "GET", "/v1/status", Some("adm-wrong-token-0000")).0,
        401
    );
    let (code, body) = request(&admin, "GET", "/v1/status", Some(token));
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"integrations\""), "{body}");
    assert_eq!(request(&admin, "POST", "/v1/status", Some(token)).0, 405);
    assert_eq!(request(&admin, "DELETE", "/v1/health", Some(token)).0, 405);
    assert_eq!(
        request(&admin, "GET", "/v1/health", Some(token)),
        (200, "ok\n".into())
    );
    assert_eq!(request(&admin, "GET", "/nothing", Some(token)).0, 404);

    // The CLI takes the token from the agent's config, or from --admin-token-file. Until the
    // first export has been tried, nothing is known to be wrong yet: wait for it.
    let (code, out) = wait_for(Duration::from_secs(30), || {
        Some(status(&cfg)).filter(|(code, _)| *code == 1)
    })
    .unwrap_or_else(|| status(&cfg));
    assert_eq!(code, 1, "collector down is attention:\n{out}");
    let wrong = dir.path().join("wrong.token");
    std::fs::write(&wrong, "adm-wrong-token-0000").unwrap();
    let url = format!("http://{admin}");
    let (code, out, _, _) = cli(&[
        "status",
        "--admin",
        &url,
        "--admin-token-file",
        wrong.to_str().unwrap(),
    ]);
    assert_eq!(code, 3, "{out}");
    let first = out.lines().next().unwrap_or("");
    assert!(
        first.starts_with("UNREACHABLE:")
            && first.contains("401")
            && first.contains("--admin-token-file"),
        "{first}"
    );
    assert!(!out.contains(token), "{out}");
    drop(agent);
}

#[test]
fn unreachable_agent_names_the_address_tried() {
    let admin = admin_addr();
    let url = format!("http://{admin}");
    let (code, out, _, took) = cli(&["status", "--admin", &url]);
    assert_eq!(code, 3, "{out}");
    let first = out.lines().next().unwrap_or("");
    assert!(
        first.starts_with("UNREACHABLE:")
            && first.contains(&url)
            && first.contains("Fix: start the agent"),
        "{first}"
    );
    assert!(took < Duration::from_secs(10));
    // A stuck endpoint (accepts, never answers) is unreachable too, within the client's
    // total timeout.
    let (hole, _h) = black_hole();
    let (code, out, _, took) = cli(&["status", "--admin", &hole]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("did not answer within"), "{out}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn non_loopback_admin_without_a_token_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.yaml");
    std::fs::write(
        &path,
        "agent:\n  interval: 15s\nadmin:\n  listen: 0.0.0.0:8687\n",
    )
    .unwrap();
    let (code, out, err, _) = cli(&["--config", path.to_str().unwrap(), "check-config"]);
    assert_eq!(code, 2, "{out}{err}");
    let want = format!("{}:4:", path.display());
    assert!(
        err.contains(&want) && err.contains("admin.listen") && err.contains("admin.token_file"),
        "{err}"
    );
}

#[test]
fn check_reads_postgresql_as_postgresql_itself_does() {
    let dir = tempfile::tempdir().unwrap();
    let db = pg::Database::create("admin_check");
    let path = dir.path().join("agent.yaml");
    std::fs::write(
        &path,
        format!(
            "integrations:\n  host:\n    enabled: false\n  postgresql:\n    enabled: true\n    instances:\n      - name: shop\n        dsn: {}\n",
            db.dsn()
        ),
    )
    .unwrap();
    let config = path.to_str().unwrap();
    let mut admin = db.admin();
    let max: i64 = admin
        .query_one("SELECT current_setting('max_connections')::bigint", &[])
        .unwrap()
        .get(0);
    let size: i64 = admin
        .query_one("SELECT pg_database_size(current_database())", &[])
        .unwrap()
        .get(0);

    let (code, out, err, _) = cli(&[
        "--config",
        config,
        "check",
        "postgresql/shop",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["result"], "ok");
    assert!(doc["duration_ms"].as_f64().unwrap() > 0.0);
    let value = |name: &str, attr: Option<(&str, &str)>| {
        doc["points"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name && attr.is_none_or(|(k, v)| p["attributes"][k] == v))
            .map(|p| p["value"].as_f64().unwrap())
    };
    assert_eq!(value("postgresql.connection.max", None), Some(max as f64));
    assert_eq!(
        value(
            "postgresql.db_size",
            Some(("postgresql.database.name", db.name()))
        ),
        Some(size as f64)
    );

    // A table by request (the default on a terminal), the verdict first; Prometheus text by
    // default when piped, the verdict as a comment.
    let (code, out, _, _) = cli(&[
        "--config",
        config,
        "check",
        "postgresql",
        "--format",
        "table",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.lines()
            .next()
            .unwrap()
            .starts_with("OK: postgresql/shop ran in"),
        "{out}"
    );
    assert!(out.contains("postgresql.connection.max") && out.contains(&max.to_string()));
    let (code, out, _, _) = cli(&["--config", config, "check", "postgresql/shop"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("# OK: postgresql/shop"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("postgresql_connection_max") && l.ends_with(&format!(" {max}"))),
        "{out}"
    );
    assert!(out.contains("dozor_agent_scrape_duration_seconds"), "{out}");

    // Unknown: the configured names, exit 2.
    let (code, out, err, _) = cli(&["--config", config, "check", "nosuch"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("\"nosuch\"") && err.contains("configured: postgresql/shop"),
        "{err}"
    );
}

/// A backlog found at start is replayed with its progress shown: log lines when standard error
/// is not a terminal (a progress bar on one).
#[test]
fn backlog_replay_progress_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let ports = Collector::free_ports();
    let endpoint = format!("http://127.0.0.1:{}", ports.0);
    let admin = admin_addr();
    let cfg = config(dir.path(), &endpoint, &admin, "    replay_rate: 2000\n", "")
        .replace("series: 20", "series: 2000");
    let (mut first, cfg) = agent(dir.path(), &cfg);
    // More than 5 s of replay_rate waits in the buffer.
    let buffered = wait_for(Duration::from_secs(60), || {
        let (_, out, _, _) = cli(&["--config", cfg.to_str().unwrap(), "status", "--json"]);
        let doc: serde_json::Value = serde_json::from_str(&out).ok()?;
        (doc["buffer"]["metrics"]["points"].as_u64()? > 20_000).then_some(())
    });
    assert!(buffered.is_some(), "{}", first.output());
    first.terminate(Duration::from_secs(20));
    let _collector = Collector::start_on(dir.path(), ports, "");
    let path = cfg.clone();
    let second = Proc::spawn(
        "second",
        dir.path(),
        Command::new(AGENT)
            .arg("--config")
            .arg(&path)
            .env_remove("DOZOR_LOG"),
    );
    let done = wait_for(Duration::from_secs(120), || {
        second.output().contains("Backlog replayed.").then_some(())
    });
    let log = second.output();
    assert!(done.is_some(), "{log}");
    assert!(
        log.contains("Replaying the backlog left from before."),
        "{log}"
    );
    assert!(
        log.contains("Replaying the backlog.") && log.contains("left="),
        "{log}"
    );
}

/// The value of the sample `series` (name and labels exactly as exposed) in `/metrics` text.
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{series} not in:\n{metrics}"))
}

/// Points the collector received, both receivers.
fn received(c: &Collector) -> f64 {
    let m = dozor_testkit::http_get(&c.metrics, "/metrics").unwrap().1;
    ["otlp_grpc", "otlp_http"]
        .iter()
        .map(|r| {
            sample(
                &m,
                &format!("dozor_collector_received_points_total{{receiver=\"{r}\"}}"),
            )
        })
        .sum()
}

/// `dozor-agent top` in a real pseudo-terminal (tmux): the demo integration runs every 200 ms,
/// so top must show 5 runs/s; the points/s it shows must be what the collector counted
/// arriving over the same window; `q` quits with exit 0 and the terminal restored.
#[test]
fn top_shows_the_rates_the_collector_counts_and_quits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path(), "");
    let endpoint = format!("http://127.0.0.1:{}", collector.grpc);
    let admin = admin_addr();
    let (_agent, cfg) = agent(dir.path(), &config(dir.path(), &endpoint, &admin, "", ""));
    wait_for(Duration::from_secs(30), || {
        Some(status(&cfg)).filter(|(code, _)| *code == 0)
    })
    .expect("the agent did not become healthy");
    let shell = format!(
        "{AGENT} --config {} top --interval 1s; echo TOP-EXITED=$?; stty -a; sleep 600",
        cfg.display()
    );
    let tmux = dozor_testkit::Tmux::start("agent-top", 200, 50, &shell);
    // The cells of the demo row: INTEGRATION RESULT MS RUNS/S POINTS/S ERRORS/S TIMEOUTS/S.
    let demo = |screen: &str| -> Option<(f64, f64)> {
        let cells: Vec<&str> = screen
            .lines()
            .find(|l| l.split_whitespace().next() == Some("demo"))?
            .split_whitespace()
            .collect();
        Some((cells.get(3)?.parse().ok()?, cells.get(4)?.parse().ok()?))
    };
    let sent = |screen: &str| -> Option<f64> {
        screen
            .split("points_sent/s ")
            .nth(1)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let window = |screen: &str| -> Option<u64> {
        let rest = screen.split("over the last ").nth(1)?;
        rest.split("s (since").next()?.parse().ok()
    };
    wait_for(Duration::from_secs(30), || demo(&tmux.screen()))
        .unwrap_or_else(|| panic!("no rates on screen:\n{}", tmux.screen()));
    let (r0, t0) = (received(&collector), Instant::now());
    let screen = wait_for(Duration::from_secs(60), || {
        let s = tmux.screen();
        window(&s).filter(|w| *w >= 8).map(|_| s)
    })
    .unwrap_or_else(|| panic!("the window did not grow:\n{}", tmux.screen()));
    let counted = (received(&collector) - r0) / t0.elapsed().as_secs_f64();
    // Both windows span at least 8 s and differ by at most one refresh (1 s) at each end,
    // plus one flush (200 ms): within 25% at steady rates, as for the collector's top.
    let (runs, _points) = demo(&screen).unwrap();
    assert!(
        (runs - 5.0).abs() <= 1.25,
        "demo runs/s {runs}, every 200 ms is 5\n{screen}"
    );
    let shown = sent(&screen).unwrap_or_else(|| panic!("no points_sent/s:\n{screen}"));
    assert!(
        counted > 0.0 && (shown - counted).abs() <= 0.25 * counted,
        "top shows {shown} points sent/s, the collector counted {counted:.1}/s\n{screen}"
    );
    tmux.keys(&["q"]);
    let after = wait_for(Duration::from_secs(10), || {
        let s = tmux.screen();
        (s.contains("TOP-EXITED=") && s.contains("icanon")).then_some(s)
    })
    .unwrap_or_else(|| panic!("top did not quit:\n{}", tmux.screen()));
    assert!(after.contains("TOP-EXITED=0"), "{after}");
    assert!(!after.contains("RUNS/S"), "{after}");
    let words: Vec<&str> = after.split_whitespace().collect();
    for flag in ["icanon", "echo", "isig"] {
        assert!(words.contains(&flag), "{flag} not restored:\n{after}");
    }
}
