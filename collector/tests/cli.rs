//! The `dozor-collector` binary: `check-config`, `--version`, and a real run on ephemeral
//! ports that stops cleanly on SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_dozor-collector");

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn check_config_reports_every_problem_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        &dir,
        "bad.yaml",
        "receivers:\n  otlp_http:\n    endpoint: nowhere\nstore:\n  series_ttl: 5 minutes\n  max_series: 0\n",
    );
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let file = bad.display();
    for want in [
        format!("{file}:3:5: receivers.otlp_http.endpoint: invalid address \"nowhere\""),
        format!("{file}:5:15: store.series_ttl: invalid duration \"5 minutes\""),
        format!("{file}:6:3: store.max_series: must be at least 1"),
    ] {
        assert!(stderr.contains(&want), "missing {want:?} in:\n{stderr}");
    }

    let good = write(
        &dir,
        "good.yaml",
        include_str!("../dozor-collector.example.yaml"),
    );
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Configuration OK.\n");

    let missing = dir.path().join("missing.yaml");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn version() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        stdout,
        format!("dozor-collector {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn runs_on_ephemeral_ports_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        &dir,
        "c.yaml",
        "receivers:\n  otlp_grpc: {endpoint: 0.0.0.0:0}\n  otlp_http: {endpoint: 127.0.0.1:0}\n\
         exporters:\n  prometheus: {endpoint: 127.0.0.1:0}\n",
    );
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = Vec::new();
    let mut prometheus: Option<SocketAddr> = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.contains("Prometheus exporter listening.") {
            let addr = line.split("address=").nth(1).unwrap().trim();
            prometheus = Some(addr.parse().unwrap());
        }
        let started = line.contains("Collector started.");
        log.push(line);
        if started {
            break;
        }
    }
    let prometheus = prometheus.unwrap_or_else(|| panic!("no address logged:\n{}", log.join("\n")));
    // Safe defaults, said out loud: the memory limit in force, and a receiver open to the
    // network without tokens.
    let text = log.join("\n");
    assert!(text.contains("Memory limit set automatically"), "{text}");
    assert!(
        text.contains("receivers.otlp_grpc.endpoint 0.0.0.0:0 accepts data from other machines without authentication"),
        "{text}"
    );
    assert!(!text.contains("receivers.otlp_http.endpoint"), "{text}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let r = rt.block_on(common::wire::http1(
        prometheus,
        "GET",
        "/-/healthy",
        &[],
        vec![],
    ));
    assert_eq!(r.status, 200);

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = wait(&mut child, Duration::from_secs(20));
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert_eq!(status.code(), Some(0), "{}", rest.join("\n"));
    assert!(
        rest.iter()
            .any(|l| l.contains("Shutting down.") && l.contains("signal=\"SIGTERM\"")),
        "{rest:?}"
    );
    assert!(
        rest.iter().any(|l| l.contains("Collector stopped.")),
        "{rest:?}"
    );
}

fn wait(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("the collector did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
