//! The collector endpoints: `collector.reach` (TCP connect), `collector.tls` ([`super::tls`]),
//! `collector.token` (a real authenticated no-op: an OTLP export with no points, through the
//! agent's own transport), and `collector.clock` (skew from the HTTP `Date` of the collector's
//! `/metrics`).

use super::report::Outcome;
use super::{Check, Ctx, PEER_TIMEOUT, Waiting};
use crate::export::config::OtlpConfig;
use crate::export::secrets;
use crate::export::signal::Signal;
use crate::export::transport::{Sender, Transport};
use dozor_metrics::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::Message;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Skew up to this is fine (the `Date` header has whole seconds).
const SKEW_OK: Duration = Duration::from_secs(2);
/// Skew beyond this fails: the collector's staleness and the agents' timestamps disagree.
const SKEW_FAIL: Duration = Duration::from_secs(30);

/// One reach, TLS and token check per endpoint, then the clock.
pub fn checks(ctx: &Arc<Ctx>) -> Vec<Check> {
    let mut out = Vec::new();
    let otlp = &ctx.config.exporters.otlp;
    if !otlp.enabled {
        out.push(Check::new("collector", PEER_TIMEOUT, |_| async {
            Outcome::skip("exporters.otlp.enabled is false: nothing is sent")
        }));
        return out;
    }
    for (i, endpoint) in otlp.endpoints.iter().enumerate() {
        let (c, e) = (ctx.clone(), endpoint.clone());
        out.push(Check::new(
            format!("collector.reach {endpoint}"),
            PEER_TIMEOUT,
            move |w| reach(c, i, e, w),
        ));
        out.push(super::tls::check(ctx, endpoint));
        let (c, e) = (ctx.clone(), endpoint.clone());
        out.push(Check::new(
            format!("collector.token {endpoint}"),
            PEER_TIMEOUT,
            move |w| token(c, e, w),
        ));
    }
    let c = ctx.clone();
    out.push(Check::new("collector.clock", PEER_TIMEOUT, move |w| {
        clock(c, w)
    }));
    out
}

/// The file named in fixes.
pub fn file(ctx: &Ctx) -> String {
    ctx.file
        .as_deref()
        .map_or("the configuration".into(), |p| p.display().to_string())
}

/// `host:port` of an endpoint URL.
pub fn authority(endpoint: &str) -> Option<(String, u16)> {
    let url = url::Url::parse(endpoint).ok()?;
    let host = url.host_str()?.trim_matches(['[', ']']).to_string();
    Some((host, url.port_or_known_default()?))
}

async fn reach(ctx: Arc<Ctx>, i: usize, endpoint: String, w: Waiting) -> Outcome {
    let Some((host, port)) = authority(&endpoint) else {
        return Outcome::fail(
            format!("{endpoint} is not a URL"),
            format!("correct exporters.otlp.endpoints[{i}] in {}", file(&ctx)),
        );
    };
    w.on(format!("resolving {host}"));
    let addrs: Vec<_> = match tokio::net::lookup_host((host.as_str(), port)).await {
        Ok(a) => a.collect(),
        Err(e) => {
            return Outcome::fail(
                format!("cannot resolve {host}: {e}"),
                format!(
                    "correct the host of exporters.otlp.endpoints[{i}] in {}, or fix this host's DNS (/etc/resolv.conf)",
                    file(&ctx)
                ),
            );
        }
    };
    let mut errors = Vec::new();
    for addr in addrs {
        w.on(format!("a TCP connection to {addr}"));
        let started = std::time::Instant::now();
        match tokio::net::TcpStream::connect(addr).await {
            Ok(_) => {
                return Outcome::pass(format!(
                    "TCP connection to {addr} in {:.1} ms",
                    started.elapsed().as_secs_f64() * 1000.0
                ));
            }
            Err(e) => errors.push(format!("{addr}: {e}")),
        }
    }
    Outcome::fail(
        format!("cannot connect to {host}:{port}: {}", errors.join("; ")),
        format!(
            "start the collector at {host}:{port} (`systemctl start dozor-collector` there), or correct exporters.otlp.endpoints[{i}] in {}; if it runs, open TCP port {port} between this host and it",
            file(&ctx)
        ),
    )
}

/// A transport to `endpoint` alone, with the agent's protocol, TLS, token and identity.
pub fn transport(ctx: &Ctx, endpoint: &str) -> anyhow::Result<(Transport, bool)> {
    let otlp = &ctx.config.exporters.otlp;
    let token = secrets::token(&otlp.auth)?;
    let tls = secrets::tls(&otlp.tls)?;
    let one = OtlpConfig {
        endpoints: vec![endpoint.to_string()],
        protocol: otlp.protocol,
        gzip: otlp.gzip,
        // The agent's own: a collector slower than a check's timeout shows as that check's
        // TIMEOUT, naming what it waited on.
        timeout: otlp.timeout,
        ..OtlpConfig::default()
    };
    let agent = ctx
        .resource
        .iter()
        .find(|(k, _)| k == "service.instance.id")
        .map(|(_, v)| {
            v.chars()
                .map(|c| if c.is_ascii_graphic() { c } else { '_' })
                .take(128)
                .collect()
        })
        .unwrap_or_else(|| "unknown".into());
    let has_token = token.is_some();
    let sender = Sender {
        agent,
        stream: "0000000000000000".into(),
        token,
    };
    Ok((
        Transport::new(&one, &tls, sender, Signal::Metrics)?,
        has_token,
    ))
}

/// Where the token comes from, for messages.
fn token_source(otlp: &OtlpConfig) -> String {
    match (&otlp.auth.token_file, &otlp.auth.token_env) {
        (Some(f), _) => format!("the token in {}", f.display()),
        (_, Some(v)) => format!("the token in ${v}"),
        _ => "no token".into(),
    }
}

async fn token(ctx: Arc<Ctx>, endpoint: String, w: Waiting) -> Outcome {
    let (transport, has_token) = match transport(&ctx, &endpoint) {
        Ok(t) => t,
        Err(e) => {
            return Outcome::fail(
                format!("{e:#}"),
                format!("correct exporters.otlp in {}", file(&ctx)),
            );
        }
    };
    let source = token_source(&ctx.config.exporters.otlp);
    w.on(format!(
        "the collector's answer to an empty export at {endpoint}"
    ));
    let body = transport.body(ExportMetricsServiceRequest::default().encode_to_vec());
    match transport.send(0, &body, None).await {
        Ok(_) if has_token => Outcome::pass(format!(
            "the collector accepted an empty export with {source}"
        )),
        Ok(_) => Outcome::pass(
            "the collector accepted an empty export without a token (none configured; the collector asks for none)",
        ),
        Err(f) if f.label() == "unauthenticated" && has_token => Outcome::fail(
            format!("the collector refused {source}: {f}"),
            format!(
                "add `{} <token>` to the collector's auth.tokens_file and send it SIGHUP, or put this agent's token in {}",
                agent_name(&ctx),
                source.trim_start_matches("the token in ")
            ),
        ),
        Err(f) if f.label() == "unauthenticated" => Outcome::fail(
            format!("the collector requires a token: {f}"),
            format!(
                "set exporters.otlp.auth.token_file in {} to a file holding this agent's token",
                file(&ctx)
            ),
        ),
        Err(f) if f.label() == "unreachable" => Outcome::fail(
            format!("no answer to an empty export: {f}"),
            "see collector.reach and collector.tls for this endpoint",
        ),
        Err(f) => Outcome::fail(
            format!("the collector refused an empty export: {f}"),
            "check the collector's log for the refusal; a retryable status means it is overloaded or shutting down",
        ),
    }
}

fn agent_name(ctx: &Ctx) -> String {
    ctx.resource
        .iter()
        .find(|(k, _)| k == "service.instance.id")
        .map_or("<agent>".into(), |(_, v)| v.clone())
}

/// The collector's `/metrics`: `diagnose.collector_metrics_url`, else port 9464 of the first
/// endpoint's host.
pub fn metrics_url(ctx: &Ctx) -> Option<String> {
    if let Some(url) = &ctx.config.diagnose.collector_metrics_url {
        return Some(url.clone());
    }
    let (host, _) = authority(ctx.config.exporters.otlp.endpoints.first()?)?;
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    Some(format!("http://{host}:9464/metrics"))
}

/// A plain HTTP client for the collector's `/metrics` and Prometheus.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(PEER_TIMEOUT)
        .build()
        .unwrap_or_default()
}

async fn clock(ctx: Arc<Ctx>, w: Waiting) -> Outcome {
    let Some(url) = metrics_url(&ctx) else {
        return Outcome::skip("no collector endpoint");
    };
    w.on(format!("an answer from {url}"));
    let before = SystemTime::now();
    let response = match http_client().get(&url).send().await {
        Ok(r) => r,
        Err(e) => {
            return Outcome::warn(
                format!("cannot read the collector's clock from {url}: {e}"),
                format!(
                    "set diagnose.collector_metrics_url in {} to the collector's /metrics",
                    file(&ctx)
                ),
            );
        }
    };
    let after = SystemTime::now();
    let Some(date) = response
        .headers()
        .get("date")
        .and_then(|d| d.to_str().ok())
        .and_then(|d| httpdate::parse_http_date(d).ok())
    else {
        return Outcome::warn(
            format!("{url} sent no Date header"),
            "none: the skew cannot be measured",
        );
    };
    let mid = before + after.duration_since(before).unwrap_or_default() / 2;
    let (skew, sign) = match mid.duration_since(date) {
        Ok(ahead) => (ahead, "ahead of"),
        // `Date` has whole seconds: the collector's second started up to 1 s before `mid`.
        Err(e) => (e.duration(), "behind"),
    };
    let detail = format!(
        "this host's clock is {:.1} s {sign} the collector's (HTTP Date of {url}, 1 s resolution)",
        skew.as_secs_f64()
    );
    let fix = "synchronise both clocks with NTP: `timedatectl set-ntp true` (systemd-timesyncd) or chrony, on this host and the collector's";
    if skew > SKEW_FAIL {
        Outcome::fail(detail, fix)
    } else if skew > SKEW_OK {
        Outcome::warn(detail, fix)
    } else {
        Outcome::pass(detail)
    }
}
