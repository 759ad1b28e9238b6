//! `dozor-collector status` and the admin endpoint against the real binary (issue #15): two
//! healthy agents; an agent whose sequence has a gap; an agent refused for a wrong token; a
//! collector that is not there (exit 3 naming the address) or stopped with SIGSTOP (exit 3
//! within the client's timeout); 401 and 405. And the completions and man pages of both
//! binaries, generated from their clap definitions.

mod common;

use common::proc::Collector;
use common::*;
use dozor_collector::admin::snapshot::Status;
use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_dozor-collector");
const STREAM: &str = "00000000000000aa";

fn admin_addr(c: &Collector) -> SocketAddr {
    assert!(c.wait_for_log("Admin endpoint listening."), "{:?}", c.log());
    let log = c.log();
    let line = log
        .iter()
        .find(|l| l.contains("Admin endpoint listening."))
        .unwrap();
    line.split("address=")
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn status(args: &[&str]) -> (i32, String) {
    let out: Output = Command::new(BIN).arg("status").args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), text)
}

fn status_json(admin: SocketAddr) -> Status {
    let (code, text) = status(&["--json", "--admin", &admin.to_string()]);
    assert!(code == 0 || code == 1, "exit {code}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Batches `seqs` of `agent`, each two data points, `oldest` as given.
async fn send(c: &Collector, agent: &str, seqs: &[(u64, u64)], token: Option<&str>) -> Vec<u16> {
    let mut out = Vec::new();
    for &(seq, oldest) in seqs {
        let mut h = batch_headers(agent, STREAM, seq, oldest);
        if let Some(t) = token {
            h.push(("authorization".into(), format!("Bearer {t}")));
        }
        out.push(post(c.http, &delta_request(agent, 1.0), &h).await.status);
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn two_healthy_agents_then_a_gap_names_the_agent_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path(), "admin:\n  listen: 127.0.0.1:0\n");
    let admin = admin_addr(&c);
    assert_eq!(
        send(&c, "ws-1", &[(1, 1), (2, 1), (3, 1)], None).await,
        [200; 3]
    );
    assert_eq!(send(&c, "ws-2", &[(1, 1), (2, 1)], None).await, [200; 2]);
    let (code, text) = status(&["--admin", &format!("http://{admin}")]);
    assert_eq!(code, 0, "{text}");
    let first = text.lines().next().unwrap();
    assert!(first.starts_with("OK: dozor-collector"), "{text}");
    assert!(first.contains("2 agents"), "{text}");
    for agent in ["ws-1", "ws-2"] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(agent)),
            "{agent}: {text}"
        );
    }
    let s = status_json(admin);
    let ids: Vec<(&str, u64, u64, u64)> = s
        .agents
        .iter()
        .map(|a| (a.id.as_str(), a.accepted_batches, a.points, a.gaps))
        .collect();
    // Sent: three and two batches of two points each.
    assert_eq!(ids, [("ws-1", 3, 6, 0), ("ws-2", 2, 4, 0)]);
    assert_eq!(s.agents[0].site, "plant-a");
    assert!(s.agents[0].last_seen_unix_ms.is_some());
    assert_eq!(s.counters.received_points, 10);

    // ws-2 skips 3 and 4: batch 5 says the oldest it may still send is 5.
    assert_eq!(send(&c, "ws-2", &[(5, 5)], None).await, [200]);
    let (code, text) = status(&["--admin", &admin.to_string()]);
    assert_eq!(code, 1, "{text}");
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("ATTENTION: agent ws-2: 2 batches missing") && first.contains("fix: "),
        "{text}"
    );
    let s = status_json(admin);
    let (_, m) = dozor_testkit::http_get(&c.prometheus.to_string(), "/metrics").unwrap();
    let counted = must(
        &m,
        r#"dozor_collector_delivery_missing_batches_total{agent="ws-2"}"#,
    );
    assert_eq!((s.agents[1].gaps, counted), (2, 2.0), "{m}");
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_show_per_agent_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "ws-1 token-of-ws-1-0123456789\n").unwrap();
    let c = Collector::start(
        dir.path(),
        &format!(
            "auth:\n  tokens_file: {}\nadmin:\n  listen: 127.0.0.1:0\n",
            tokens.display()
        ),
    );
    let admin = admin_addr(&c);
    let good = send(
        &c,
        "ws-1",
        &[(1, 1), (2, 1)],
        Some("token-of-ws-1-0123456789"),
    )
    .await;
    assert_eq!(good, [200, 200]);
    let bad = send(
        &c,
        "ws-bad",
        &[(1, 1), (2, 1), (3, 1)],
        Some("wrong-token-0123456789"),
    )
    .await;
    assert_eq!(bad, [401; 3]);
    let (code, text) = status(&["--admin", &admin.to_string()]);
    assert_eq!(code, 1, "{text}");
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("ATTENTION: agent ws-bad: 3 requests refused (unauthenticated)")
            && first.contains("auth.tokens_file"),
        "{text}"
    );
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with("ws-bad"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(row.contains("unauthenticated=3"), "{row}");
    let s = status_json(admin);
    let ws1 = s.agents.iter().find(|a| a.id == "ws-1").unwrap();
    assert!(ws1.refusals.is_empty(), "{ws1:?}");
    assert_eq!(ws1.accepted_batches, 2);
}

#[test]
fn an_unreachable_collector_exits_3_naming_the_address() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let (code, text) = status(&["--admin", &address]);
    assert_eq!(code, 3, "{text}");
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("UNREACHABLE:") && first.contains(&address),
        "{text}"
    );
    // The same from the config's admin.listen.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(&config, format!("admin:\n  listen: {address}\n")).unwrap();
    let (code, text) = status(&["--config", config.to_str().unwrap()]);
    assert_eq!(code, 3, "{text}");
    assert!(text.contains(&address), "{text}");
}

#[test]
fn a_stopped_collector_is_reported_within_10_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path(), "admin:\n  listen: 127.0.0.1:0\n");
    let admin = admin_addr(&c);
    c.signal("STOP");
    let started = Instant::now();
    let (code, text) = status(&["--admin", &admin.to_string()]);
    let took = started.elapsed();
    c.signal("CONT");
    assert_eq!(code, 3, "{text}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(text.contains("did not answer within 5s"), "{text}");
    assert!(text.contains(&admin.to_string()), "{text}");
    let (code, text) = status(&["--admin", &admin.to_string()]);
    assert_eq!(code, 0, "answers again once continued: {text}");
}

#[test]
fn token_and_method_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("admin.token");
    std::fs::write(&token, "  admin-token-0123456789abcdef\n").unwrap();
    let c = Collector::start(
        dir.path(),
        &format!(
            "admin:\n  listen: 127.0.0.1:0\n  token_file: {}\n",
            token.display()
        ),
    );
    let admin = admin_addr(&c).to_string();
    let curl = |args: &[&str]| -> String {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let url = format!("http://{admin}/v1/status");
    assert_eq!(curl(&[&url]), "401");
    assert_eq!(
        curl(&["-H", "Authorization: Bearer wrong-token-0123456789", &url]),
        "401"
    );
    let auth = "Authorization: Bearer admin-token-0123456789abcdef";
    assert_eq!(curl(&["-H", auth, &url]), "200");
    assert_eq!(curl(&["-X", "POST", "-H", auth, &url]), "405");
    assert_eq!(curl(&["-X", "DELETE", &url]), "405");
    let (code, text) = status(&["--admin", &admin]);
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("401"), "{text}");
    let (code, text) = status(&[
        "--admin",
        &admin,
        "--admin-token-file",
        token.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{text}");
    // Beyond loopback without a token is a configuration error.
    let config = dir.path().join("open.yaml");
    std::fs::write(&config, "admin:\n  listen: 0.0.0.0:8688\n").unwrap();
    let out = Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "check-config"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("open.yaml:2:3: admin.listen"), "{err}");
}

/// The binaries whose completions and man pages are checked, with their subcommands.
fn binaries() -> Vec<(std::path::PathBuf, &'static [&'static str])> {
    vec![
        (
            BIN.into(),
            &["check-config", "status", "top", "completions", "man"][..],
        ),
        (
            dozor_testkit::bin("dozor-agent"),
            &[
                "check-config",
                "status",
                "check",
                "top",
                "completions",
                "man",
            ][..],
        ),
    ]
}

#[test]
fn bash_completion_is_valid_and_names_every_subcommand() {
    for (bin, subcommands) in binaries() {
        let out = Command::new(&bin)
            .args(["completions", "bash"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let script = String::from_utf8(out.stdout).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("completion.bash");
        std::fs::write(&file, &script).unwrap();
        let check = Command::new("bash").arg("-n").arg(&file).output().unwrap();
        assert!(
            check.status.success(),
            "bash -n: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        for sub in subcommands {
            assert!(
                script.contains(sub),
                "{} completion lacks {sub}",
                bin.display()
            );
        }
        for shell in ["zsh", "fish"] {
            let out = Command::new(&bin)
                .args(["completions", shell])
                .output()
                .unwrap();
            assert!(out.status.success() && !out.stdout.is_empty(), "{shell}");
        }
    }
}

#[test]
fn man_writes_a_page_per_subcommand_that_groff_renders_without_warnings() {
    let groff = dozor_testkit::tool("groff", "groff-base");
    for (bin, subcommands) in binaries() {
        let name = bin.file_name().unwrap().to_str().unwrap().to_string();
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(&bin)
            .arg("man")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut pages = vec![format!("{name}.1")];
        pages.extend(subcommands.iter().map(|s| format!("{name}-{s}.1")));
        for page in pages {
            let path = dir.path().join(&page);
            assert!(path.exists(), "{page} not written");
            let r = Command::new(&groff)
                .args(["-man", "-Tutf8", "-ww", "-z"])
                .arg(&path)
                .output()
                .unwrap();
            let warnings = String::from_utf8_lossy(&r.stderr);
            assert!(
                r.status.success() && warnings.is_empty(),
                "{page}: {warnings}"
            );
            let text = Command::new(&groff)
                .args(["-man", "-Tutf8"])
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                String::from_utf8_lossy(&text.stdout).contains(&name),
                "{page} renders without its name"
            );
        }
    }
}
