//! Token authentication and TLS on both receivers, with certificates made by the test.

mod common;

use common::tls::{Pki, client_config, grpcs_export, https_post};
use common::*;
use dozor_collector::config::Tls;
use prost::Message;

const TOKEN_WEB: &str = "web-token-0123456789";
const TOKEN_DB: &str = "db-token-9876543210";

fn bearer(t: &str) -> (String, String) {
    ("authorization".into(), format!("Bearer {t}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_none_wrong_and_right() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(
        &tokens,
        format!("# agents\nweb-1 {TOKEN_WEB}\ndb-1 {TOKEN_DB}\n"),
    )
    .unwrap();
    let path = tokens.display().to_string();
    let running = start(|c| c.auth.tokens_file = path).await;
    let (http, grpc) = (running.addrs.otlp_http, running.addrs.otlp_grpc);
    let req = || delta_request("spoof", 1.0);

    for headers in [vec![], vec![bearer("not-a-token-at-all")]] {
        let r = post(http, &req(), &headers).await;
        assert_eq!(r.status, 401, "{}", r.text());
        assert!(!r.text().contains(TOKEN_WEB));
        let (code, _) = grpc_export(grpc, req(), &headers).await;
        assert_eq!(code, tonic::Code::Unauthenticated);
    }
    // The right token: its agent name is the one tracked, whatever dozor-agent says.
    let mut headers = batch_headers("spoof", "00000000000000ff", 1, 1);
    headers.push(bearer(TOKEN_WEB));
    assert_eq!(post(http, &req(), &headers).await.status, 200);
    let mut headers = batch_headers("spoof", "00000000000000ff", 2, 1);
    headers.push(bearer(TOKEN_DB));
    assert_eq!(grpc_export(grpc, req(), &headers).await.0, tonic::Code::Ok);

    let m = scrape(&running).await;
    assert_eq!(refused(&m, "otlp_http", "unauthenticated"), 2.0);
    assert_eq!(refused(&m, "otlp_grpc", "unauthenticated"), 2.0);
    let accepted = |agent: &str| {
        value(
            &m,
            &format!("dozor_collector_delivery_accepted_batches_total{{agent=\"{agent}\"}}"),
        )
    };
    assert_eq!(accepted("web-1"), Some(1.0), "{m}");
    assert_eq!(accepted("db-1"), Some(1.0));
    assert_eq!(accepted("spoof"), None);

    // Re-read (what SIGHUP does): the old token stops working, the new one works.
    std::fs::write(&tokens, "web-1 a-brand-new-token-42\n").unwrap();
    running.reload_tokens().unwrap();
    assert_eq!(post(http, &req(), &[bearer(TOKEN_WEB)]).await.status, 401);
    let ok = post(http, &req(), &[bearer("a-brand-new-token-42")]).await;
    assert_eq!(ok.status, 200);
}

#[test]
fn sighup_rereads_the_tokens_file_and_loose_permissions_are_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, format!("web-1 {TOKEN_WEB}\n")).unwrap();
    std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o644)).unwrap();
    let c = common::proc::Collector::start(
        dir.path(),
        &format!("auth:\n  tokens_file: {}\n", tokens.display()),
    );
    assert!(
        c.wait_for_log("readable by group or others"),
        "{:#?}",
        c.log()
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = |token: &str| {
        rt.block_on(post(c.http, &sample_request(1.0), &[bearer(token)]))
            .status
    };
    assert_eq!(status(TOKEN_WEB), 200);
    std::fs::write(&tokens, "web-1 a-brand-new-token-42\n").unwrap();
    c.signal("HUP");
    assert!(
        c.wait_for_log_count("Agent tokens loaded.", 2),
        "{:#?}",
        c.log()
    );
    assert_eq!(status(TOKEN_WEB), 401);
    assert_eq!(status("a-brand-new-token-42"), 200);
    // A broken file on reload keeps the tokens in use.
    std::fs::write(&tokens, "web-1\n").unwrap();
    c.signal("HUP");
    assert!(
        c.wait_for_log("keeping the previous ones"),
        "{:#?}",
        c.log()
    );
    assert_eq!(status("a-brand-new-token-42"), 200);
    assert!(c.log().iter().all(|l| !l.contains("a-brand-new-token-42")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tokens_file_with_a_shared_token_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, format!("a {TOKEN_WEB}\nb {TOKEN_WEB}\n")).unwrap();
    let mut config = dozor_collector::config::Config::default();
    config.receivers.otlp_grpc.endpoint = "127.0.0.1:0".into();
    config.receivers.otlp_http.endpoint = "127.0.0.1:0".into();
    config.exporters.prometheus.endpoint = "127.0.0.1:0".into();
    config.auth.tokens_file = tokens.display().to_string();
    let err = dozor_collector::serve(&config)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("agent b has the same token as a"), "{err}");
    assert!(!err.contains(TOKEN_WEB));
}

fn tls(dir: &std::path::Path, client_ca: bool) -> Tls {
    let f = |n: &str| dir.join(n).display().to_string();
    Tls {
        cert_file: f("server.pem"),
        key_file: f("server.key"),
        client_ca_file: if client_ca {
            f("ca.pem")
        } else {
            String::new()
        },
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_with_a_trusted_and_an_untrusted_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    pki.write(dir.path());
    let t = tls(dir.path(), false);
    let running = start(|c| {
        c.receivers.otlp_http.tls = t.clone();
        c.receivers.otlp_grpc.tls = t;
    })
    .await;
    let (http, grpc) = (running.addrs.otlp_http, running.addrs.otlp_grpc);
    let body = sample_request(1.0).encode_to_vec();

    let ok = https_post(
        http,
        client_config(&pki.ca, None, b"http/1.1"),
        &[],
        body.clone(),
    )
    .await;
    assert_eq!(ok.map(|r| r.status), Ok(200));
    let untrusted = https_post(
        http,
        client_config(&pki.other_ca, None, b"http/1.1"),
        &[],
        body,
    )
    .await;
    assert!(untrusted.is_err(), "{untrusted:?}");
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        common::wire::raw_exchange(http, "GET / HTTP/1.1\r\nhost: x\r\n\r\n", vec![]),
    )
    .await;
    assert!(!plain.unwrap_or_default().starts_with("HTTP/1.1 "));

    assert_eq!(
        grpcs_export(grpc, &pki.ca, None, sample_request(2.0)).await,
        Ok(tonic::Code::Ok)
    );
    let untrusted = grpcs_export(grpc, &pki.other_ca, None, sample_request(3.0)).await;
    assert_ne!(untrusted, Ok(tonic::Code::Ok));

    // Only the two trusted exports arrived.
    let m = scrape(&running).await;
    assert_eq!(requests(&m, "otlp_http", "accepted"), 1.0);
    assert_eq!(requests(&m, "otlp_grpc", "accepted"), 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn mutual_tls_refuses_a_client_without_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    pki.write(dir.path());
    let t = tls(dir.path(), true);
    let running = start(|c| {
        c.receivers.otlp_http.tls = t.clone();
        c.receivers.otlp_grpc.tls = t;
    })
    .await;
    let (http, grpc) = (running.addrs.otlp_http, running.addrs.otlp_grpc);
    let body = sample_request(1.0).encode_to_vec();
    let client = Some((pki.client_cert.as_str(), pki.client_key.as_str()));

    let anonymous = https_post(
        http,
        client_config(&pki.ca, None, b"http/1.1"),
        &[],
        body.clone(),
    )
    .await;
    assert!(anonymous.is_err(), "{anonymous:?}");
    let with_cert = https_post(http, client_config(&pki.ca, client, b"http/1.1"), &[], body).await;
    assert_eq!(with_cert.map(|r| r.status), Ok(200));

    let anonymous = grpcs_export(grpc, &pki.ca, None, sample_request(2.0)).await;
    assert_ne!(anonymous, Ok(tonic::Code::Ok));
    let with_cert = grpcs_export(grpc, &pki.ca, client, sample_request(3.0)).await;
    assert_eq!(with_cert, Ok(tonic::Code::Ok));

    let m = scrape(&running).await;
    assert_eq!(requests(&m, "otlp_http", "accepted"), 1.0);
    assert_eq!(requests(&m, "otlp_grpc", "accepted"), 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_writes_only_the_identities_it_may_speak_for() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(
        &tokens,
        format!("web-1 {TOKEN_WEB}\ngw {TOKEN_DB} instance=ws-* site=plant-a\n"),
    )
    .unwrap();
    let path = tokens.display().to_string();
    let running = start(|c| c.auth.tokens_file = path).await;
    let (http, grpc) = (running.addrs.otlp_http, running.addrs.otlp_grpc);
    let gauge_of = |instance: &str, site: &str| {
        request(
            &agent(instance, site, "web"),
            vec![gauge("dozor.test.owner", "1", vec![point(&[], 1.0)])],
        )
    };
    let rejected = |body: bytes::Bytes| {
        dozor_metrics::otlp::collector::metrics::v1::ExportMetricsServiceResponse::decode(body)
            .unwrap()
            .partial_success
            .map(|p| p.rejected_data_points)
    };
    // Its own name: stored. Another agent's name: refused, over both receivers.
    let own = post(http, &gauge_of("web-1", "plant-a"), &[bearer(TOKEN_WEB)]).await;
    assert_eq!((own.status, rejected(own.body)), (200, None));
    let other = post(http, &gauge_of("db-1", "plant-a"), &[bearer(TOKEN_WEB)]).await;
    assert_eq!((other.status, rejected(other.body)), (200, Some(1)));
    assert_eq!(
        grpc_export(grpc, gauge_of("db-2", "plant-a"), &[bearer(TOKEN_WEB)])
            .await
            .0,
        tonic::Code::Ok
    );
    // A relay's globs: any workstation of its site, nothing else, not itself.
    for (instance, site, stored) in [
        ("ws-7", "plant-a", true),
        ("ws-8", "plant-b", false),
        ("gw", "plant-a", false),
    ] {
        let r = post(http, &gauge_of(instance, site), &[bearer(TOKEN_DB)]).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            rejected(r.body),
            (!stored).then_some(1),
            "{instance} {site}"
        );
    }
    let m = scrape(&running).await;
    let exposed = |instance: &str| {
        m.lines().any(|l| {
            l.starts_with("dozor_test_owner") && l.contains(&format!("instance=\"{instance}\""))
        })
    };
    assert!(exposed("web-1") && exposed("ws-7"), "{m}");
    for foreign in ["db-1", "db-2", "ws-8", "gw"] {
        assert!(
            !exposed(foreign),
            "{foreign} written with another's token:\n{m}"
        );
    }
    assert_eq!(
        must(
            &m,
            r#"dozor_collector_dropped_points_total{reason="foreign_identity"}"#
        ),
        4.0
    );
}
