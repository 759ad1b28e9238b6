//! `dozor-agent diagnose` against real processes in the states that matter: healthy (the canary
//! read back from a real collector and from a real Prometheus scraping it), collector down,
//! wrong token, untrusted CA and name mismatch, a PostgreSQL role without `pg_monitor`, and an
//! endpoint that accepts connections and never answers (the command still returns within its
//! budget, the hung checks marked as timeouts).

use dozor_testkit::{Collector, Prometheus, free_port, prom_query};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A token the collector knows (at least 16 characters).
const TOKEN: &str = "diag-token-0123456789abcdef";

fn diagnose(dir: &Path, config: &str, extra: &[&str]) -> (Output, String) {
    let path = dir.join("agent.yaml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dozor-agent"))
        .args(["diagnose", "--config"])
        .arg(&path)
        .args(extra)
        .output()
        .expect("running dozor-agent diagnose");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, text)
}

/// An agent config sending to `endpoint` with its buffer in `dir`, plus `extra` YAML.
fn agent_config(dir: &Path, endpoint: &str, otlp_extra: &str, extra: &str) -> String {
    format!(
        "resource:\n  instance_id: diag-agent\nexporters:\n  otlp:\n    endpoints: [\"{endpoint}\"]\n    buffer:\n      path: {}\n{otlp_extra}{extra}",
        dir.join("buffer").display()
    )
}

fn token_file(dir: &Path, token: &str) -> String {
    let path = dir.join("token");
    std::fs::write(&path, token).unwrap();
    format!("    auth:\n      token_file: {}\n", path.display())
}

/// A collector that wants [`TOKEN`] from agent `diag-agent`.
fn collector_with_tokens(dir: &Path) -> Collector {
    let tokens = dir.join("tokens");
    std::fs::write(&tokens, format!("diag-agent {TOKEN}\n")).unwrap();
    Collector::start(
        dir,
        &format!("auth:\n  tokens_file: {}\n", tokens.display()),
    )
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

#[test]
fn healthy_the_canary_comes_back_from_the_collector_and_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let collector = collector_with_tokens(dir.path());
    let prom_dir = dir.path().join("prometheus");
    std::fs::create_dir_all(&prom_dir).unwrap();
    let prometheus = Prometheus::start(
        &prom_dir,
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: collector\n    honor_labels: true\n    static_configs:\n      - targets: ['{}']\n",
            collector.metrics
        ),
    );
    let config = agent_config(
        dir.path(),
        &format!("http://127.0.0.1:{}", collector.grpc),
        &token_file(dir.path(), TOKEN),
        &format!(
            "diagnose:\n  collector_metrics_url: http://{}/metrics\n  prometheus_url: http://{}\n",
            collector.metrics, prometheus.addr
        ),
    );
    let (out, text) = diagnose(dir.path(), &config, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(first_line(&text).starts_with("OK:"), "{text}");
    for want in [
        "PASS config:",
        "PASS buffer:",
        "PASS collector.reach",
        "SKIP collector.tls",
        "PASS collector.token",
        "PASS collector.clock",
        "PASS canary:",
    ] {
        assert!(text.contains(want), "{want:?} missing:\n{text}");
    }
    // The canary line names its id and value; Prometheus, asked independently, has that value.
    let canary = text
        .lines()
        .find(|l| l.starts_with("PASS canary:"))
        .unwrap();
    assert!(canary.contains("from Prometheus"), "{canary}");
    let id = canary
        .split("canary_id=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let value: f64 = canary
        .split("} = ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let got = prom_query(
        &prometheus.addr,
        &format!("dozor_canary{{canary_id=\"{id}\"}}"),
    );
    let seen: f64 = got["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(seen, value, "{got}");
    // And it came through the authenticated path, as the agent's own identity.
    let instance = got["data"]["result"][0]["metric"]["instance"]
        .as_str()
        .unwrap_or("");
    assert_eq!(instance, "diag-agent", "{got}");

    // --json says the same.
    let (out, json) = diagnose(dir.path(), &config, &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["ok"], true, "{json}");
    assert!(
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "canary" && c["status"] == "pass"),
        "{json}"
    );
}

#[test]
fn collector_down_names_the_endpoint_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let config = agent_config(
        dir.path(),
        &endpoint,
        "",
        &format!("diagnose:\n  collector_metrics_url: http://127.0.0.1:{port}/metrics\n"),
    );
    let (out, text) = diagnose(dir.path(), &config, &[]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let first = first_line(&text);
    assert!(
        first.starts_with(&format!(
            "FAIL collector.reach {endpoint}: cannot connect to 127.0.0.1:{port}"
        )),
        "{text}"
    );
    assert!(
        first.contains("Fix: start the collector at 127.0.0.1:"),
        "{first}"
    );
    assert!(text.contains("FAIL canary:"), "{text}");
}

#[test]
fn a_wrong_token_is_refused_and_says_where_to_put_it() {
    let dir = tempfile::tempdir().unwrap();
    let collector = collector_with_tokens(dir.path());
    let config = agent_config(
        dir.path(),
        &format!("http://127.0.0.1:{}", collector.grpc),
        &token_file(dir.path(), "not-the-right-token-000000"),
        &format!(
            "diagnose:\n  collector_metrics_url: http://{}/metrics\n",
            collector.metrics
        ),
    );
    let (out, text) = diagnose(dir.path(), &config, &[]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let first = first_line(&text);
    assert!(first.starts_with("FAIL collector.token"), "{text}");
    assert!(
        first.contains("the collector refused the token in") && first.contains("Unauthenticated"),
        "{first}"
    );
    assert!(first.contains("auth.tokens_file"), "{first}");
    assert!(
        !text.contains("not-the-right-token"),
        "the token is echoed:\n{text}"
    );

    // The same over OTLP/HTTP: a 401.
    let config = config
        .replace("    buffer:", "    protocol: http\n    buffer:")
        .replace(
            &format!(":{}\"", collector.grpc),
            &format!(":{}\"", collector.http),
        );
    let (out, text) = diagnose(dir.path(), &config, &[]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        first_line(&text).starts_with("FAIL collector.token")
            && first_line(&text).contains("HTTP 401"),
        "{text}"
    );
}

/// A CA named `ca` (PEM), and a certificate for `name` signed by it with its key.
fn certs(ca: &str, name: &str) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.distinguished_name.push(DnType::CommonName, ca);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec![name.to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

#[test]
fn an_untrusted_ca_and_a_wrong_name_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certs("dozor test CA", "collector.test");
    let (other_ca, _, _) = certs("another CA", "collector.test");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let (ca, other_ca) = (write("ca.pem", &ca), write("other-ca.pem", &other_ca));
    let tls = format!(
        "    tls:\n      cert_file: {}\n      key_file: {}\n",
        write("cert.pem", &cert),
        write("key.pem", &key)
    );
    let collector = Collector::start_tls(dir.path(), &tls, "");
    let endpoint = format!("https://localhost:{}", collector.grpc);
    let metrics = format!(
        "diagnose:\n  collector_metrics_url: http://{}/metrics\n",
        collector.metrics
    );

    // Signed by another CA.
    let config = agent_config(
        dir.path(),
        &endpoint,
        &format!("    tls:\n      ca_file: {other_ca}\n      server_name: collector.test\n"),
        &metrics,
    );
    let (out, text) = diagnose(dir.path(), &config, &[]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let first = first_line(&text);
    assert!(
        first.starts_with(&format!("FAIL collector.tls {endpoint}: unknown issuer")),
        "{text}"
    );
    assert!(
        first.contains(&other_ca) && first.contains("exporters.otlp.tls.ca_file"),
        "{first}"
    );

    // The right CA, the wrong name.
    let config = agent_config(
        dir.path(),
        &endpoint,
        &format!("    tls:\n      ca_file: {ca}\n"),
        &metrics,
    );
    let (out, text) = diagnose(dir.path(), &config, &[]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let first = first_line(&text);
    assert!(
        first.starts_with(&format!("FAIL collector.tls {endpoint}: name mismatch")),
        "{text}"
    );
    assert!(first.contains("server_name"), "{first}");

    // The right CA and name: the whole path passes, canary included.
    let config = agent_config(
        dir.path(),
        &endpoint,
        &format!("    tls:\n      ca_file: {ca}\n      server_name: collector.test\n"),
        &metrics,
    );
    let (out, text) = diagnose(dir.path(), &config, &[]);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!("PASS collector.tls {endpoint}")) && text.contains("PASS canary:"),
        "{text}"
    );
}

#[test]
fn a_postgresql_role_without_pg_monitor_gets_the_grant() {
    let db = dozor_testkit::pg::Database::create("diag_pg");
    let role = dozor_testkit::unique("diag_role");
    let mut admin = db.admin();
    admin
        .batch_execute(&format!("CREATE ROLE {role} LOGIN"))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "exporters:\n  otlp:\n    enabled: false\n    buffer:\n      path: {}\nintegrations:\n  postgresql:\n    enabled: true\n    instances:\n      - name: shop\n        dsn: host=127.0.0.1 port=5432 user={role} dbname={}\n        statements:\n          enabled: false\n",
        dir.path().join("buffer").display(),
        db.name()
    );
    let (out, text) = diagnose(dir.path(), &config, &[]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let first = first_line(&text);
    assert!(
        first.starts_with(&format!(
            "FAIL postgresql shop: role {role} is not a member of pg_monitor"
        )),
        "{text}"
    );
    assert!(
        first.contains(&format!("GRANT pg_monitor TO \"{role}\";")),
        "{first}"
    );

    // The fix, as printed, makes it pass.
    admin
        .batch_execute(&format!("GRANT pg_monitor TO \"{role}\";"))
        .unwrap();
    let (out, text) = diagnose(dir.path(), &config, &[]);
    assert!(
        text.contains(&format!(
            "PASS postgresql shop: role {role} is in pg_monitor"
        )),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    admin.batch_execute(&format!("DROP ROLE {role}")).unwrap();
}

#[test]
fn an_endpoint_that_never_answers_times_out_within_the_budget() {
    // Accepts connections and never says a word.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in listener.incoming().flatten() {
            conns.push(c);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("http://127.0.0.1:{port}");
    let config = agent_config(
        dir.path(),
        &endpoint,
        "",
        &format!("diagnose:\n  collector_metrics_url: http://127.0.0.1:{port}/metrics\n"),
    );
    let started = Instant::now();
    let (out, text) = diagnose(dir.path(), &config, &["--budget", "10s"]);
    let took = started.elapsed();
    // The budget is the command's promise, not a speed: it holds on any machine.
    assert!(took < Duration::from_secs(10), "took {took:?}:\n{text}");
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("PASS collector.reach {endpoint}")),
        "{text}"
    );
    let token = text
        .lines()
        .find(|l| l.starts_with(&format!("TIMEOUT collector.token {endpoint}")))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        token.contains("waiting on the collector's answer to an empty export"),
        "{token}"
    );
    assert!(text.contains("TIMEOUT canary:"), "{text}");
    assert!(
        first_line(&text).starts_with("TIMEOUT collector.token"),
        "{text}"
    );
    drop(held);
}
