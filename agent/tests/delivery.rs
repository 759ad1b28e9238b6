//! Delivery that loses nothing (issue #3), end to end: the real agent binary against fake
//! collectors on real sockets. Ground truth is what the agent's ledger log says it appended
//! and what the fake collector decoded.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;
use support::*;

/// Every appended batch arrived exactly once with its points, under one stream.
fn assert_all_arrived_once(log: &str, state: &State) {
    let appended = appended(log);
    assert!(appended.len() >= 3, "too few batches appended:\n{log}");
    let (by_seq, dups) = state.accepted_by_seq();
    assert!(dups.is_empty(), "duplicates {dups:?}");
    for (_, seq, points) in &appended {
        assert_eq!(by_seq.get(seq), Some(points), "seq {seq} (points {points})");
    }
    assert_eq!(
        by_seq.len(),
        appended.len(),
        "nothing arrived that was not appended"
    );
    // Every batch carries the stream; the agent's own counters sent outside the buffer while
    // it refuses them (#18) carry neither stream nor seq.
    let streams: BTreeSet<String> = state
        .accepted()
        .iter()
        .filter_map(|r| {
            assert_eq!(r.stream.is_some(), r.seq.is_some(), "{r:?}");
            r.stream.clone()
        })
        .collect();
    assert_eq!(streams.len(), 1, "{streams:?}");
    assert_eq!(streams.first(), Some(&appended[0].0));
}

async fn refusals_then_accept(protocol: &str) {
    let dir = tempfile::tempdir().unwrap();
    let fake = match protocol {
        "http" => http_collector(3, None).await,
        _ => grpc_collector(3).await,
    };
    let endpoint = format!("http://{}", fake.addr);
    let cfg = config(protocol, &[endpoint], &dir.path().join("buffer"), "");
    let agent = start_agent(dir.path(), "agent", &cfg, &[]);
    let state = fake.state.clone();
    assert!(
        wait_for(Duration::from_secs(30), || state.accepted().len() >= 8).await,
        "collector got too little:\n{}",
        agent.log_text()
    );
    let log_path = agent.log.clone();
    assert!(agent.stop().success());
    let log = std::fs::read_to_string(log_path).unwrap();
    let received = state.received.lock().unwrap().clone();
    assert_eq!(received.iter().filter(|r| !r.accepted).count(), 3);
    for r in &received {
        assert_eq!(r.agent.as_deref(), Some("test-agent"));
        assert!(r.seq.is_some() && r.oldest.is_some(), "{r:?}");
        assert!(r.oldest <= r.seq, "dozor-oldest is at most the seq: {r:?}");
        assert_eq!(r.authorization, None);
    }
    // The refused batches went to the replay lane, which sends in seq order.
    let refused: BTreeSet<u64> = received
        .iter()
        .filter(|r| !r.accepted)
        .filter_map(|r| r.seq)
        .collect();
    let replayed: Vec<u64> = received
        .iter()
        .filter(|r| r.accepted && refused.contains(&r.seq.unwrap()))
        .map(|r| r.seq.unwrap())
        .collect();
    assert!(
        replayed.windows(2).all(|w| w[0] < w[1]),
        "replay order {replayed:?}"
    );
    assert_eq!(replayed.len(), refused.len());
    // The rest went on the live lane, one at a time as appended: increasing seqs.
    let live: Vec<u64> = received
        .iter()
        .filter(|r| r.accepted && !refused.contains(&r.seq.unwrap()))
        .map(|r| r.seq.unwrap())
        .collect();
    assert!(live.windows(2).all(|w| w[0] < w[1]), "live order {live:?}");
    // `dozor-oldest` never moves backwards.
    let oldest: Vec<u64> = received.iter().filter_map(|r| r.oldest).collect();
    assert!(oldest.windows(2).all(|w| w[0] <= w[1]), "{oldest:?}");
    assert_all_arrived_once(&log, &state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_503_with_retry_after_then_accept_delivers_every_batch_once() {
    refusals_then_accept("http").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_resource_exhausted_with_retry_after_then_accept_delivers_every_batch_once() {
    refusals_then_accept("grpc").await;
}

async fn failover(protocol: &str) {
    let dir = tempfile::tempdir().unwrap();
    let fake = match protocol {
        "http" => http_collector(0, None).await,
        _ => grpc_collector(0).await,
    };
    let dead = format!("http://127.0.0.1:{}", dead_port());
    let live = format!("http://{}", fake.addr);
    let cfg = config(
        protocol,
        &[dead.clone(), live],
        &dir.path().join("buffer"),
        "",
    );
    let agent = start_agent(dir.path(), "agent", &cfg, &[]);
    let state = fake.state.clone();
    let breaker_open = || {
        state.accepted().iter().any(|r| {
            self_metric(
                &r.request,
                "dozor.agent.export.circuit_breaker.state",
                &[("endpoint", dead.as_str())],
            ) == Some(2.0)
                && self_metric(
                    &r.request,
                    "dozor.agent.export.requests",
                    &[("endpoint", dead.as_str()), ("outcome", "unreachable")],
                )
                .is_some_and(|n| n >= 2.0)
        })
    };
    assert!(
        wait_for(Duration::from_secs(30), || breaker_open()
            && state.accepted().len() >= 6)
        .await,
        "no report of an open breaker for {dead}:\n{}",
        agent.log_text()
    );
    let log_path = agent.log.clone();
    assert!(agent.stop().success());
    let log = std::fs::read_to_string(log_path).unwrap();
    assert!(log.contains("Circuit breaker opened"), "{log}");
    assert_all_arrived_once(&log, &state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_resends_what_was_not_acknowledged_on_the_same_stream() {
    let dir = tempfile::tempdir().unwrap();
    let port = dead_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let buffer = dir.path().join("buffer");
    let cfg = config("http", &[endpoint], &buffer, "")
        .replace("shutdown_timeout: 5s", "shutdown_timeout: 1s");
    // First run: no collector, everything stays on disk.
    let agent = start_agent(dir.path(), "agent", &cfg, &[]);
    let log_path = agent.log.clone();
    assert!(
        wait_for(Duration::from_secs(30), || appended(
            &std::fs::read_to_string(&log_path).unwrap_or_default()
        )
        .len()
            >= 5)
        .await
    );
    assert!(agent.stop().success());
    let first_run = appended(&std::fs::read_to_string(&log_path).unwrap());
    // Second run, same buffer directory, and now a collector on that port.
    let fake = http_collector_on(port).await;
    let agent = start_agent(dir.path(), "agent", &cfg, &[]);
    let state = fake.state.clone();
    let last_first = first_run.last().unwrap().1;
    assert!(
        wait_for(Duration::from_secs(30), || {
            let (by_seq, _) = state.accepted_by_seq();
            (0..=last_first).all(|s| by_seq.contains_key(&s)) && by_seq.len() > first_run.len() + 2
        })
        .await,
        "backlog not resent:\n{}",
        agent.log_text()
    );
    assert!(agent.stop().success());
    let log = std::fs::read_to_string(&log_path).unwrap();
    let all = appended(&log);
    let second_run = &all[first_run.len()..];
    assert!(!second_run.is_empty());
    assert!(
        second_run.iter().all(|b| b.0 == first_run[0].0),
        "the stream id is kept across a clean restart"
    );
    assert_eq!(second_run[0].1, last_first + 1, "seqs continue");
    assert_all_arrived_once(&log, &state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_fails_over_to_the_second_endpoint_and_opens_the_breaker_of_the_first() {
    failover("http").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_fails_over_to_the_second_endpoint_and_opens_the_breaker_of_the_first() {
    failover("grpc").await;
}

/// Binds the fake HTTP collector to a given port (retrying while the port is in TIME_WAIT).
async fn http_collector_on(port: u16) -> Fake {
    for _ in 0..50 {
        if let Some(fake) = http_collector_at(port).await {
            return fake;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("port {port} stayed busy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_oldest_reports_exactly_the_points_that_never_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let port = dead_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    // Small segments and a small bound: batches of ~20 demo points plus self-metrics.
    let cfg = config("http", &[endpoint], &dir.path().join("buffer"), "")
        .replace(
            "    buffer:\n",
            "    buffer:\n      max_bytes: 16384\n      segment_bytes: 4096\n",
        )
        .replace("cooldown: 30s", "cooldown: 1s");
    let agent = start_agent(dir.path(), "agent", &cfg, &[]);
    let log_path = agent.log.clone();
    assert!(
        wait_for(Duration::from_secs(60), || dropped_points(
            &std::fs::read_to_string(&log_path).unwrap_or_default()
        ) > 0)
        .await,
        "nothing was dropped:\n{}",
        agent.log_text()
    );
    // Now the collector comes; wait until the backlog is delivered and one more batch, which
    // reports the final drop count, has arrived.
    let fake = http_collector_on(port).await;
    let state = fake.state.clone();
    let drops_logged = dropped_points(&std::fs::read_to_string(&log_path).unwrap());
    assert!(wait_for(Duration::from_secs(30), || state.accepted().len() >= 5).await);
    assert!(agent.stop().success());
    let log = std::fs::read_to_string(&log_path).unwrap();
    let appended: u64 = appended(&log).iter().map(|b| b.2).sum();
    let (by_seq, dups) = state.accepted_by_seq();
    assert!(dups.is_empty(), "{dups:?}");
    let arrived: u64 = by_seq.values().sum();
    let dropped = dropped_points(&log);
    assert!(dropped >= drops_logged && dropped > 0);
    assert_eq!(dropped, appended - arrived, "dropped == appended - arrived");
    // The exported counter agrees: the last request carries every drop (none after the
    // collector came back).
    let last = state.accepted().into_iter().max_by_key(|r| r.seq).unwrap();
    let counted = self_metric(
        &last.request,
        "dozor.agent.export.points",
        &[("outcome", "dropped")],
    );
    assert_eq!(counted, Some(dropped as f64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_trusted_ca_delivers_and_an_untrusted_ca_never_sends() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, cert_pem, key_pem) = certs("localhost");
    let (other_ca, _, _) = certs("localhost");
    std::fs::write(dir.path().join("ca.pem"), &ca_pem).unwrap();
    std::fs::write(dir.path().join("other-ca.pem"), &other_ca).unwrap();
    let fake = http_collector(0, Some((cert_pem, key_pem))).await;
    let endpoint = format!("https://localhost:{}", fake.addr.port());
    let tls = |ca: &str| {
        format!(
            "    tls:\n      ca_file: {}\n",
            dir.path().join(ca).display()
        )
    };

    // Untrusted first: the handshake fails, nothing is decoded, the data stays on disk.
    let untrusted_buffer = dir.path().join("untrusted");
    let cfg = config(
        "http",
        std::slice::from_ref(&endpoint),
        &untrusted_buffer,
        &tls("other-ca.pem"),
    );
    let agent = start_agent(dir.path(), "untrusted", &cfg, &[]);
    let log_path = agent.log.clone();
    assert!(
        wait_for(Duration::from_secs(30), || {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            appended(&log).len() >= 3 && log.contains("Export failed")
        })
        .await,
        "{}",
        agent.log_text()
    );
    let _ = agent.stop();
    assert_eq!(
        fake.state.received.lock().unwrap().len(),
        0,
        "nothing reached the collector"
    );

    // Trusted: delivered.
    let cfg = config(
        "http",
        &[endpoint],
        &dir.path().join("trusted"),
        &tls("ca.pem"),
    );
    let agent = start_agent(dir.path(), "trusted", &cfg, &[]);
    let state = fake.state.clone();
    assert!(
        wait_for(Duration::from_secs(30), || state.accepted().len() >= 3).await,
        "{}",
        agent.log_text()
    );
    let log_path = agent.log.clone();
    assert!(agent.stop().success());
    assert_all_arrived_once(&std::fs::read_to_string(log_path).unwrap(), &state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_sent_as_bearer_and_never_logged() {
    let dir = tempfile::tempdir().unwrap();
    let token = "tok-3f9a1c77e2b54d08a6";
    let fake = http_collector(0, None).await;
    let endpoint = format!("http://{}", fake.addr);
    let cfg = config(
        "http",
        &[endpoint],
        &dir.path().join("buffer"),
        "    auth:\n      token_env: DOZOR_TEST_TOKEN\n",
    );
    let env = [("DOZOR_TEST_TOKEN", token)];
    let agent = start_agent(dir.path(), "agent", &cfg, &env);
    let state = fake.state.clone();
    assert!(wait_for(Duration::from_secs(30), || state.accepted().len() >= 3).await);
    let log_path = agent.log.clone();
    assert!(agent.stop().success());
    let want = format!("Bearer {token}");
    assert!(
        state
            .received
            .lock()
            .unwrap()
            .iter()
            .all(|r| r.authorization.as_deref() == Some(want.as_str()))
    );
    // Not in the run log (debug level included), nor in check-config's output.
    let debug_cfg = dir.path().join("agent.yaml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dozor-agent"))
        .args(["check-config", "--log-level", "trace", "--config"])
        .arg(&debug_cfg)
        .env("DOZOR_TEST_TOKEN", token)
        .output()
        .unwrap();
    assert!(out.status.success());
    let log = std::fs::read_to_string(log_path).unwrap();
    for text in [
        log.as_str(),
        &String::from_utf8_lossy(&out.stdout),
        &String::from_utf8_lossy(&out.stderr),
    ] {
        assert!(!text.contains(token), "token leaked:\n{text}");
    }
    assert!(log.contains("Batch appended"), "the log is real: {log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_agent_on_the_same_buffer_directory_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("http://127.0.0.1:{}", dead_port());
    let cfg = config("http", &[endpoint], &dir.path().join("buffer"), "");
    let mut first = start_agent(dir.path(), "first", &cfg, &[]);
    let first_log = first.log.clone();
    assert!(
        wait_for(Duration::from_secs(30), || std::fs::read_to_string(
            &first_log
        )
        .unwrap_or_default()
        .contains("Buffer opened"))
        .await
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dozor-agent"))
        .arg("--config")
        .arg(dir.path().join("first.yaml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("in use by another dozor-agent"), "{stderr}");
    assert!(first.running(), "the first agent is unaffected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_mutual_tls_with_server_name_delivers() {
    let dir = tempfile::tempdir().unwrap();
    // The collector's certificate names collector.test; the agent dials 127.0.0.1 and checks
    // that name. The agent's client certificate is signed by a CA the collector trusts.
    let (ca, server_cert, server_key) = certs("collector.test");
    let (client_ca, client_cert, client_key) = certs("agent.test");
    for (file, pem) in [
        ("ca.pem", &ca),
        ("agent.pem", &client_cert),
        ("agent-key.pem", &client_key),
    ] {
        std::fs::write(dir.path().join(file), pem).unwrap();
    }
    let fake = grpc_tls_collector(&server_cert, &server_key, &client_ca).await;
    let endpoint = format!("https://127.0.0.1:{}", fake.addr.port());
    let p = |f: &str| dir.path().join(f).display().to_string();
    let tls = format!(
        "    tls:\n      ca_file: {}\n      cert_file: {}\n      key_file: {}\n      server_name: collector.test\n",
        p("ca.pem"),
        p("agent.pem"),
        p("agent-key.pem")
    );
    let cfg = config("grpc", &[endpoint], &dir.path().join("buffer"), &tls);
    let agent = start_agent(dir.path(), "agent", &cfg, &[]);
    let state = fake.state.clone();
    assert!(
        wait_for(Duration::from_secs(30), || state.accepted().len() >= 3).await,
        "{}",
        agent.log_text()
    );
    let log_path = agent.log.clone();
    assert!(agent.stop().success());
    assert_all_arrived_once(&std::fs::read_to_string(log_path).unwrap(), &state);
}

/// A CA (PEM), and a certificate for `name` signed by it with its key.
fn certs(name: &str) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_keeps_every_batch_and_counts_the_runs_it_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let port = dead_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let cfg = config("http", &[endpoint], &dir.path().join("buffer"), "")
        .replace(
            "    buffer:\n",
            "    buffer:\n      max_bytes: 16384\n      segment_bytes: 4096\n      when_full: pause\n",
        )
        .replace("cooldown: 30s", "cooldown: 1s");
    let agent = start_agent(dir.path(), "agent", &cfg, &[]);
    let log_path = agent.log.clone();
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        wait_for(Duration::from_secs(60), || log()
            .contains("collection paused"))
        .await,
        "never paused:\n{}",
        log()
    );
    // Stay paused long enough for the scheduler's channel (16 runs) to fill and runs to be
    // skipped, then let the collector take the backlog.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let fake = http_collector_on(port).await;
    let state = fake.state.clone();
    let skipped = || {
        state.accepted().iter().any(|r| {
            self_metric(
                &r.request,
                "dozor.agent.scrape.errors",
                &[("integration", "demo"), ("error.type", "paused")],
            )
            .is_some_and(|n| n > 0.0)
        })
    };
    assert!(
        wait_for(Duration::from_secs(30), skipped).await,
        "no paused runs reported:\n{}",
        log()
    );
    assert!(agent.stop().success());
    let log = log();
    assert_eq!(dropped_points(&log), 0, "pause never drops");
    assert_all_arrived_once(&log, &state);
}

/// `gzip: auto` (the default) leaves requests to a loopback collector uncompressed; `true`
/// compresses them, over both protocols.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_auto_skips_loopback_and_true_compresses() {
    for (protocol, gzip, want) in [
        ("http", "", None),
        ("http", "    gzip: true\n", Some("gzip")),
        ("grpc", "", None),
        ("grpc", "    gzip: true\n", Some("gzip")),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let fake = match protocol {
            "http" => http_collector(0, None).await,
            _ => grpc_collector(0).await,
        };
        let endpoint = format!("http://{}", fake.addr);
        let cfg = config(protocol, &[endpoint], &dir.path().join("buffer"), gzip);
        let agent = start_agent(dir.path(), "agent", &cfg, &[]);
        let state = fake.state.clone();
        assert!(
            wait_for(Duration::from_secs(30), || state.accepted().len() >= 2).await,
            "collector got too little:\n{}",
            agent.log_text()
        );
        assert!(agent.stop().success());
        for r in state.accepted() {
            assert_eq!(r.encoding.as_deref(), want, "{protocol} {gzip:?}");
        }
    }
}
