//! Issue #3, security: with tokens and TLS on, an agent with no token, one with a wrong token
//! and one that does not trust the collector's CA deliver nothing, and 100 MB requests are
//! refused before they are read whole (the collector's memory does not grow by 100 MB),
//! while a well-behaved agent keeps delivering every batch throughout.

use dozor_e2e::delivery::{Accepted, appended, metric_sum, missing};
use dozor_testkit::{Collector, http_get, rss_kib, start_agent, wait_for};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const GOOD_TOKEN: &str = "good-agent-token-0123456789abcdef";
const CA_TOKEN: &str = "ca-agent-token-0123456789abcdef01";

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

/// Writes ca.pem, other-ca.pem, server.pem and server.key (for `localhost`) into `dir`.
fn pki(dir: &Path) {
    let root = ca("dozor e2e CA");
    let other = ca("an unrelated CA");
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &root)
        .unwrap();
    for (name, text) in [
        ("ca.pem", root.pem()),
        ("other-ca.pem", other.pem()),
        ("server.pem", cert.pem()),
        ("server.key", key.serialize_pem()),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

#[test]
fn bad_clients_are_refused_while_a_good_agent_delivers_everything() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pki(d);
    let tokens = d.join("tokens");
    std::fs::write(
        &tokens,
        format!("good-agent {GOOD_TOKEN}\nca-agent {CA_TOKEN}\n"),
    )
    .unwrap();
    std::fs::write(d.join("good.token"), GOOD_TOKEN).unwrap();
    std::fs::write(d.join("ca.token"), CA_TOKEN).unwrap();
    std::fs::write(d.join("wrong.token"), "wrong-token-0123456789abcdef0123").unwrap();
    let ledger = d.join("ledger");
    let tls = format!(
        "    tls:\n      cert_file: {0}/server.pem\n      key_file: {0}/server.key\n",
        d.display()
    );
    let extra = format!(
        "delivery:\n  ledger_path: {}\nauth:\n  tokens_file: {}\n",
        ledger.display(),
        tokens.display()
    );
    let collector = Collector::start_tls(d, &tls, &extra);

    let agent = |name: &str, ca: &str, token: Option<&str>| {
        let auth = token.map_or(String::new(), |t| {
            format!("    auth:\n      token_file: {}/{t}\n", d.display())
        });
        start_agent(
            d,
            name,
            &format!(
                "agent:\n  interval: 500ms\nresource:\n  instance_id: {name}\n\
                 exporters:\n  otlp:\n    endpoints: [\"https://localhost:{}\"]\n    flush_interval: 200ms\n\
                 \x20   buffer:\n      path: {}/{name}-buffer\n\
                 \x20   tls:\n      ca_file: {}/{ca}\n{auth}\
                 integrations:\n  host:\n    enabled: false\n  demo:\n    enabled: true\n    series: 200\n",
                collector.grpc,
                d.display(),
                d.display()
            ),
        )
    };
    let mut good = agent("good-agent", "ca.pem", Some("good.token"));
    let _no_token = agent("no-token", "ca.pem", None);
    let _wrong_token = agent("wrong-token", "ca.pem", Some("wrong.token"));
    let _wrong_ca = agent("ca-agent", "other-ca.pem", Some("ca.token"));

    wait_for(Duration::from_secs(60), || {
        (Accepted::read(&ledger).of("good-agent").len() >= 3).then_some(())
    })
    .unwrap_or_else(|| panic!("the good agent did not deliver:\n{}", good.output()));

    // 100 MB requests over HTTPS, with the good token, while the agents run.
    let big = d.join("big");
    std::fs::write(&big, vec![0x0au8; 100 * 1024 * 1024]).unwrap();
    let rss_before = rss_kib(collector.proc.child.id());
    let mut rss_max = rss_before;
    for _ in 0..3 {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(d.join("ca.pem"))
            .args([
                "-H",
                &format!("authorization: Bearer {GOOD_TOKEN}"),
                "-H",
                "content-type: application/x-protobuf",
                "--data-binary",
            ])
            .arg(format!("@{}", big.display()))
            .arg(format!("https://localhost:{}/v1/metrics", collector.http))
            .output()
            .expect("curl is needed: apt-get install curl");
        let code = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(code, "413", "a 100 MB request was not refused as too large");
        rss_max = rss_max.max(rss_kib(collector.proc.child.id()));
    }
    // Keep the bad agents retrying for a while longer.
    let settled_from = appended(&[&d.join("good-agent.log")]).len() + 10;
    let good_log = d.join("good-agent.log");
    let caught_up = wait_for(Duration::from_secs(60), || {
        let all = appended(&[&good_log]);
        let settled = &all[..all.len().saturating_sub(2)];
        (settled.len() >= settled_from
            && missing(settled, &Accepted::read(&ledger).of("good-agent")).is_empty())
        .then_some(())
    });
    rss_max = rss_max.max(rss_kib(collector.proc.child.id()));
    let accepted = Accepted::read(&ledger);
    let (_, body) = http_get(&collector.metrics, "/metrics").expect("scraping the collector");
    good.terminate(Duration::from_secs(20));

    eprintln!(
        "good agent: {} batches accepted; collector RSS {} → max {} KiB",
        accepted.of("good-agent").len(),
        rss_before,
        rss_max
    );
    assert!(
        caught_up.is_some(),
        "the good agent's batches stopped arriving during the attacks"
    );
    let senders: Vec<&String> = accepted.batches.keys().collect();
    assert_eq!(senders, ["good-agent"], "only the good agent may deliver");
    let unauthenticated = metric_sum(
        &body,
        "dozor_collector_refused_requests_total{",
        &["reason=\"unauthenticated\""],
    );
    assert!(
        unauthenticated >= 2.0,
        "no-token and wrong-token requests were not counted as unauthenticated"
    );
    let too_large = metric_sum(
        &body,
        "dozor_collector_refused_requests_total{",
        &["reason=\"too_large\""],
    );
    assert!(too_large >= 3.0, "100 MB requests not counted: {too_large}");
    assert!(
        rss_max < rss_before + 50 * 1024,
        "collector memory grew from {rss_before} to {rss_max} KiB: a 100 MB body was held"
    );
    let wrong_ca_log = std::fs::read_to_string(d.join("ca-agent.log")).unwrap_or_default();
    assert!(
        !wrong_ca_log.contains(CA_TOKEN)
            && !std::fs::read_to_string(d.join("good-agent.log"))
                .unwrap_or_default()
                .contains(GOOD_TOKEN),
        "a token was logged"
    );
}
