//! HTTP(S) probes: one request (and the redirects it leads to), timed phase by phase by the
//! probe's own HTTP/1.1 client ([`client`]): `resolve` (only when a lookup ran), `connect`,
//! `tls` (https only), `first_byte` (request written to first response byte) and `transfer`
//! (first response byte to last body byte), each summed over the redirects followed and
//! recorded only when it completed. For https the presented chain's earliest expiry and its
//! validity are recorded also when the chain is refused ([`tls`]).
//!
//! Then the response is checked: status (2xx unless `expect.status`), body and header regular
//! expressions. Secrets (`bearer_token`, `basic_auth.password`, and header values that look like
//! credentials) are redacted in `Debug` and never logged. See `docs/probes-http.md`.

pub mod client;
pub mod tls;

use super::config::ProbeConfig;
use super::dns::parse_resolver;
use super::resolve::{Family, resolve_via};
use super::{Failure, Probe};
use crate::integrations::Context;
use client::{Phases, Response};
use dozor_config::At;
use dozor_metrics::catalogue::probes as m;
use dozor_metrics::sample::Recorder;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::{SocketAddr, SocketAddrV6};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

/// Default of `max_body`: 1 MiB.
const MAX_BODY: u64 = 1 << 20;

/// `http`: a request, and what its response must be.
#[derive(Clone, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct HttpProbe {
    /// `http://` or `https://` URL, e.g. `https://mes.plant/api/orders?state=open`.
    pub url: String,
    /// Request method.
    pub method: String,
    /// Request headers, e.g. `{Accept: application/json}`.
    pub headers: BTreeMap<String, String>,
    /// Request body.
    pub body: Option<String>,
    /// Request body read from this file (when the probe is built).
    pub body_file: Option<PathBuf>,
    /// Sent as `Authorization: Bearer <token>`; best as `${VAR}`. Never logged.
    pub bearer_token: Option<String>,
    /// File holding the bearer token (read when the probe is built; surrounding white space
    /// removed).
    pub bearer_token_file: Option<PathBuf>,
    /// Sent as `Authorization: Basic ...`.
    pub basic_auth: Option<BasicAuth>,
    /// Follow 301, 302, 303, 307 and 308 redirects.
    pub follow_redirects: bool,
    /// Most redirects followed; one more fails with `too_many_redirects`.
    pub max_redirects: u32,
    /// What the response must be.
    pub expect: Expect,
    /// TLS settings for https.
    pub tls: TlsOptions,
    /// Address family: `auto`, `ipv4` or `ipv6`.
    pub family: Family,
    /// DNS server (`ip:port`) that resolves the URL's host, instead of the system resolver.
    pub resolver: Option<String>,
    /// Most body bytes read; a longer body is cut there (its size recorded as this) and the
    /// connection dropped.
    pub max_body: u64,
}

impl Default for HttpProbe {
    fn default() -> Self {
        HttpProbe {
            url: String::new(),
            method: "GET".into(),
            headers: BTreeMap::new(),
            body: None,
            body_file: None,
            bearer_token: None,
            bearer_token_file: None,
            basic_auth: None,
            follow_redirects: true,
            max_redirects: 10,
            expect: Expect::default(),
            tls: TlsOptions::default(),
            family: Family::Auto,
            resolver: None,
            max_body: MAX_BODY,
        }
    }
}

/// Whether a header's value is a credential, redacted in `Debug`.
fn secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "authorization",
        "cookie",
        "token",
        "key",
        "secret",
        "password",
    ]
    .iter()
    .any(|w| n.contains(w))
}

const REDACTED: &str = "<redacted>";

impl std::fmt::Debug for HttpProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: BTreeMap<&str, &str> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let v = if secret_header(k) {
                    REDACTED
                } else {
                    v.as_str()
                };
                (k.as_str(), v)
            })
            .collect();
        f.debug_struct("HttpProbe")
            .field("url", &self.url)
            .field("method", &self.method)
            .field("headers", &headers)
            .field("body", &self.body.as_ref().map(|b| b.len()))
            .field("body_file", &self.body_file)
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| REDACTED),
            )
            .field("bearer_token_file", &self.bearer_token_file)
            .field("basic_auth", &self.basic_auth)
            .field("follow_redirects", &self.follow_redirects)
            .field("max_redirects", &self.max_redirects)
            .field("expect", &self.expect)
            .field("tls", &self.tls)
            .field("family", &self.family)
            .field("resolver", &self.resolver)
            .field("max_body", &self.max_body)
            .finish()
    }
}

/// `basic_auth`: a user name and a password (or a file holding it).
#[derive(Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct BasicAuth {
    /// User name.
    pub username: String,
    /// Password; best as `${VAR}`. Never logged.
    pub password: Option<String>,
    /// File holding the password (surrounding white space removed).
    pub password_file: Option<PathBuf>,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| REDACTED))
            .field("password_file", &self.password_file)
            .finish()
    }
}

/// `expect`: what the response must be.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct Expect {
    /// Accepted status codes: codes (`200`), classes (`"2xx"`) or ranges (`"200-204"`); 2xx
    /// when empty.
    pub status: Vec<StatusPattern>,
    /// The body (its first `max_body` bytes) must match this regular expression.
    pub body_regex: Option<String>,
    /// The body must not match this regular expression.
    pub body_not_regex: Option<String>,
    /// Headers that must be present, each with a value matching its regular expression.
    pub header: BTreeMap<String, String>,
}

/// One accepted status: a code, or a class or range as text.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(untagged)]
pub enum StatusPattern {
    /// `200`.
    Code(u16),
    /// `"2xx"`, `"200-204"`, `"404"`.
    Text(String),
}

impl StatusPattern {
    fn range(&self) -> Result<(u16, u16), String> {
        let bad = || {
            format!("{self:?} is not a status code (200), class (\"2xx\") or range (\"200-204\")")
        };
        let code = |s: &str| {
            s.trim()
                .parse::<u16>()
                .ok()
                .filter(|c| (100..=599).contains(c))
        };
        match self {
            StatusPattern::Code(c) => code(&c.to_string()).map(|c| (c, c)).ok_or_else(bad),
            StatusPattern::Text(t) => {
                let t = t.trim();
                if let Some(d) = t.strip_suffix("xx").or_else(|| t.strip_suffix("XX")) {
                    let d = d
                        .parse::<u16>()
                        .ok()
                        .filter(|d| (1..=5).contains(d))
                        .ok_or_else(bad)?;
                    Ok((d * 100, d * 100 + 99))
                } else if let Some((a, b)) = t.split_once('-') {
                    match (code(a), code(b)) {
                        (Some(a), Some(b)) if a <= b => Ok((a, b)),
                        _ => Err(bad()),
                    }
                } else {
                    code(t).map(|c| (c, c)).ok_or_else(bad)
                }
            }
        }
    }
}

/// `tls`: how https is verified.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct TlsOptions {
    /// PEM file of the CA certificates to trust instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// Name sent (SNI) and verified instead of the URL's host.
    pub server_name: Option<String>,
    /// Complete the handshake even when the chain does not verify (its validity is still
    /// recorded in `dozor.probe.tls.chain.valid`).
    pub insecure_skip_verify: bool,
}

fn http_url(s: &str) -> Result<Url, String> {
    let u = Url::parse(s).map_err(|e| format!("\"{s}\" is not a URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("\"{s}\": the scheme must be http or https"));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(format!("\"{s}\" has no host"));
    }
    Ok(u)
}

fn read_secret(path: &std::path::Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn regex(s: &Option<String>) -> Result<Option<regex::Regex>, String> {
    s.as_deref()
        .map(regex::Regex::new)
        .transpose()
        .map_err(|e| e.to_string())
}

impl ProbeConfig for HttpProbe {
    fn validate(&self, at: &mut At<'_>) {
        if let Err(e) = http_url(&self.url) {
            at.error("url", e);
        }
        if self.method.is_empty() || !self.method.bytes().all(|b| b.is_ascii_alphabetic()) {
            at.error("method", "must be a method name such as GET, HEAD or POST");
        }
        for (k, v) in &self.headers {
            if k.is_empty() || !k.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
                at.at("headers").error(k, "is not a valid header name");
            }
            if v.bytes().any(|b| b == b'\r' || b == b'\n') {
                at.at("headers").error(k, "the value must be one line");
            }
        }
        if self.body.is_some() && self.body_file.is_some() {
            at.error("body_file", "set body or body_file, not both");
        }
        if self.bearer_token.is_some() && self.bearer_token_file.is_some() {
            at.error(
                "bearer_token_file",
                "set bearer_token or bearer_token_file, not both",
            );
        }
        let auth = self.bearer_token.is_some() || self.bearer_token_file.is_some();
        if let Some(b) = &self.basic_auth {
            if auth {
                at.error(
                    "basic_auth",
                    "set bearer_token(_file) or basic_auth, not both",
                );
            }
            if b.password.is_some() && b.password_file.is_some() {
                at.at("basic_auth")
                    .error("password_file", "set password or password_file, not both");
            }
            if b.username.contains(':') {
                at.at("basic_auth")
                    .error("username", "must not contain ':'");
            }
        }
        if (auth || self.basic_auth.is_some())
            && self
                .headers
                .keys()
                .any(|k| k.eq_ignore_ascii_case("authorization"))
        {
            at.at("headers")
                .error("Authorization", "set by bearer_token or basic_auth already");
        }
        if self.max_redirects == 0 && self.follow_redirects {
            at.error(
                "max_redirects",
                "must be at least 1 (or set follow_redirects: false)",
            );
        }
        at.at_least("max_body", self.max_body, 1);
        {
            let mut e = at.at("expect");
            for (i, s) in self.expect.status.iter().enumerate() {
                if let Err(msg) = s.range() {
                    e.item("status", i).error("", msg);
                }
            }
            for key in ["body_regex", "body_not_regex"] {
                let r = if key == "body_regex" {
                    &self.expect.body_regex
                } else {
                    &self.expect.body_not_regex
                };
                if let Err(msg) = regex(r) {
                    e.error(key, msg);
                }
            }
            for (name, r) in &self.expect.header {
                if let Err(msg) = regex::Regex::new(r) {
                    e.at("header").error(name, msg.to_string());
                }
            }
        }
        if let Some(n) = &self.tls.server_name
            && ServerName::try_from(n.as_str()).is_err()
        {
            at.at("tls").error(
                "server_name",
                format!("\"{n}\" is not a DNS name or IP address"),
            );
        }
        if let Some(r) = &self.resolver
            && let Err(e) = parse_resolver(r)
        {
            at.error("resolver", e);
        }
    }

    fn build(&self, _ctx: &Context) -> Result<Box<dyn Probe>, String> {
        let url = http_url(&self.url)?;
        let body = match (&self.body, &self.body_file) {
            (Some(b), _) => Some(b.clone().into_bytes()),
            (None, Some(p)) => {
                Some(std::fs::read(p).map_err(|e| format!("body_file {}: {e}", p.display()))?)
            }
            (None, None) => None,
        };
        let token = match (&self.bearer_token, &self.bearer_token_file) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(p)) => Some(read_secret(p).map_err(|e| format!("bearer_token_file {e}"))?),
            (None, None) => None,
        };
        let authorization = match (token, &self.basic_auth) {
            (Some(t), _) => Some(format!("Bearer {t}")),
            (None, Some(b)) => {
                use base64::Engine;
                let password = match (&b.password, &b.password_file) {
                    (Some(p), _) => p.clone(),
                    (None, Some(p)) => {
                        read_secret(p).map_err(|e| format!("basic_auth.password_file {e}"))?
                    }
                    (None, None) => String::new(),
                };
                let pair = format!("{}:{password}", b.username);
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ))
            }
            (None, None) => None,
        };
        let mut status = Vec::new();
        for s in &self.expect.status {
            status.push(s.range()?);
        }
        if status.is_empty() {
            status.push((200, 299));
        }
        let mut header = Vec::new();
        for (name, r) in &self.expect.header {
            header.push((
                name.to_ascii_lowercase(),
                regex::Regex::new(r).map_err(|e| e.to_string())?,
            ));
        }
        let mut roots = rustls::RootCertStore::empty();
        match &self.tls.ca_file {
            Some(path) => {
                let certs: Vec<_> = CertificateDer::pem_file_iter(path)
                    .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| format!("tls.ca_file {}: {e}", path.display()))?;
                if roots.add_parsable_certificates(certs).0 == 0 {
                    return Err(format!(
                        "tls.ca_file {}: holds no CA certificate",
                        path.display()
                    ));
                }
            }
            None if url.scheme() == "https" || self.follow_redirects => {
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            }
            None => {}
        }
        let tls = if roots.is_empty() {
            if url.scheme() == "https" {
                return Err(
                    "the system has no CA certificates: install ca-certificates or set tls.ca_file"
                        .into(),
                );
            }
            None
        } else {
            let verifier = tls::Recording::new(roots, self.tls.insecure_skip_verify)?;
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .dangerous()
                .with_custom_certificate_verifier(verifier.clone())
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            // Every probe shakes hands in full: a resumed session would hide the handshake's cost.
            config.resumption = rustls::client::Resumption::disabled();
            Some((Arc::new(config), verifier))
        };
        Ok(Box::new(Http {
            url,
            method: self.method.to_ascii_uppercase(),
            headers: self
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            body,
            authorization,
            follow_redirects: self.follow_redirects,
            max_redirects: self.max_redirects,
            status,
            body_regex: regex(&self.expect.body_regex)?,
            body_not_regex: regex(&self.expect.body_not_regex)?,
            header,
            tls,
            server_name: self.tls.server_name.clone(),
            family: self.family,
            resolver: self.resolver.as_deref().map(parse_resolver).transpose()?,
            max_body: self.max_body,
        }))
    }
}

/// A configured HTTP probe.
pub struct Http {
    url: Url,
    method: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    /// The `Authorization` value; a secret.
    authorization: Option<String>,
    follow_redirects: bool,
    max_redirects: u32,
    status: Vec<(u16, u16)>,
    body_regex: Option<regex::Regex>,
    body_not_regex: Option<regex::Regex>,
    header: Vec<(String, regex::Regex)>,
    tls: Option<(Arc<rustls::ClientConfig>, Arc<tls::Recording>)>,
    server_name: Option<String>,
    family: Family,
    resolver: Option<SocketAddr>,
    max_body: u64,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("url", &self.url.as_str())
            .field("method", &self.method)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| REDACTED),
            )
            .finish_non_exhaustive()
    }
}

/// What one probe saw, recorded whatever its outcome.
#[derive(Default)]
struct Seen {
    phases: Phases,
    response: Option<Response>,
    redirects: u32,
    tls: Option<tls::Seen>,
}

impl Http {
    /// The request for `url`; credentials only to the configured URL's origin.
    fn request(&self, url: &Url, method: &str, body: Option<&[u8]>) -> Vec<u8> {
        let mut target = url.path().to_string();
        if let Some(q) = url.query() {
            target.push('?');
            target.push_str(q);
        }
        let host = url.host_str().unwrap_or_default();
        let host = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let mut r = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n");
        let has = |n: &str| self.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
        if !has("user-agent") {
            r.push_str("User-Agent: dozor-probe\r\n");
        }
        if !has("accept") {
            r.push_str("Accept: */*\r\n");
        }
        r.push_str("Connection: close\r\n");
        for (k, v) in &self.headers {
            if !k.eq_ignore_ascii_case("connection") && !k.eq_ignore_ascii_case("host") {
                r.push_str(&format!("{k}: {v}\r\n"));
            }
        }
        if let Some(a) = &self.authorization
            && url.origin() == self.url.origin()
        {
            r.push_str(&format!("Authorization: {a}\r\n"));
        }
        if let Some(b) = body {
            r.push_str(&format!("Content-Length: {}\r\n", b.len()));
        }
        r.push_str("\r\n");
        let mut bytes = r.into_bytes();
        if let Some(b) = body {
            bytes.extend_from_slice(b);
        }
        bytes
    }

    fn probe(&self, seen: &mut Seen, deadline: Instant) -> Result<(), Failure> {
        let mut url = self.url.clone();
        let mut method = self.method.clone();
        let mut body = self.body.clone();
        loop {
            let host = url.host_str().unwrap_or_default().to_string();
            let port = url.port_or_known_default().unwrap_or(80);
            let (ip, took) = resolve_via(&host, self.family, self.resolver, deadline)?;
            if let Some(t) = took {
                seen.phases.add_resolve(t);
            }
            let addr = match ip {
                std::net::IpAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(v6, port, 0, 0)),
                v4 => SocketAddr::new(v4, port),
            };
            let https = url.scheme() == "https";
            let tls = if https {
                let Some((config, verifier)) = &self.tls else {
                    return Err(Failure::new(
                        "tls",
                        "no CA certificates to verify https with",
                    ));
                };
                let name = self.server_name.clone().unwrap_or_else(|| {
                    host.trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_string()
                });
                let server_name = ServerName::try_from(name.clone())
                    .map_err(|e| Failure::new("tls", format!("server name \"{name}\": {e}")))?;
                Some((config, verifier, server_name))
            } else {
                None
            };
            let request = self.request(&url, &method, body.as_deref());
            let result = client::exchange(
                addr,
                tls.as_ref().map(|(config, verifier, name)| client::Tls {
                    config,
                    verifier,
                    server_name: name.clone(),
                }),
                &request,
                method == "HEAD",
                self.max_body,
                deadline,
                &mut seen.phases,
            );
            if let Some((_, verifier, _)) = &tls {
                let s = verifier.seen();
                if s.verdict.is_some() {
                    seen.tls = Some(s);
                }
            }
            let response = result?;
            let location = response
                .header("location")
                .next()
                .map(str::to_string)
                .filter(|_| matches!(response.status, 301 | 302 | 303 | 307 | 308));
            seen.response = Some(response);
            let Some(location) = location.filter(|_| self.follow_redirects) else {
                return Ok(());
            };
            if seen.redirects >= self.max_redirects {
                return Err(Failure::new(
                    "too_many_redirects",
                    format!(
                        "more than {} redirects (the last to {location})",
                        self.max_redirects
                    ),
                ));
            }
            let next = url.join(&location).map_err(|e| {
                Failure::new("protocol", format!("redirect to \"{location}\": {e}"))
            })?;
            if !matches!(next.scheme(), "http" | "https") {
                return Err(Failure::new("protocol", format!("redirect to \"{next}\"")));
            }
            let status = seen.response.as_ref().map_or(0, |r| r.status);
            // 303, and 301/302 after a POST, go on with a GET without the body (as browsers do).
            if status == 303 || (matches!(status, 301 | 302) && method == "POST") {
                if method != "HEAD" {
                    method = "GET".into();
                }
                body = None;
            }
            seen.redirects += 1;
            url = next;
        }
    }

    /// The response's problem with the expectations, if any.
    fn check(&self, r: &Response) -> Result<(), Failure> {
        if !self
            .status
            .iter()
            .any(|(a, b)| (*a..=*b).contains(&r.status))
        {
            return Err(Failure::new(
                "status",
                format!("status {} is not one of {:?}", r.status, self.status),
            ));
        }
        let text = String::from_utf8_lossy(&r.body);
        if let Some(re) = &self.body_regex
            && !re.is_match(&text)
        {
            return Err(Failure::new(
                "body_mismatch",
                format!("the body ({} bytes) does not match /{re}/", r.size),
            ));
        }
        if let Some(re) = &self.body_not_regex
            && re.is_match(&text)
        {
            return Err(Failure::new(
                "body_mismatch",
                format!("the body ({} bytes) matches /{re}/", r.size),
            ));
        }
        for (name, re) in &self.header {
            if !r.header(name).any(|v| re.is_match(v)) {
                let got = r.header(name).count();
                return Err(Failure::new(
                    "header_mismatch",
                    format!("no {name} header (of {got}) matches /{re}/"),
                ));
            }
        }
        Ok(())
    }
}

impl Probe for Http {
    fn kind(&self) -> &'static str {
        "http"
    }

    fn run(
        &mut self,
        target: &str,
        deadline: Instant,
        rec: &mut Recorder,
    ) -> Result<Duration, Failure> {
        let start = Instant::now();
        let mut seen = Seen::default();
        let result = self.probe(&mut seen, deadline);
        let took = start.elapsed();
        for (phase, d) in seen.phases.ran() {
            rec.record(&m::HTTP_PHASE, d.as_secs_f64(), &[target, phase]);
        }
        if let Some(r) = &seen.response {
            rec.record(&m::HTTP_STATUS, f64::from(r.status), &[target]);
            rec.record(&m::HTTP_BODY_SIZE, r.size as f64, &[target]);
            if r.cut {
                tracing::debug!(
                    target,
                    max_body = self.max_body,
                    "Response body cut at max_body."
                );
            }
        }
        rec.record(&m::HTTP_REDIRECTS, f64::from(seen.redirects), &[target]);
        if let Some(t) = &seen.tls {
            if let Some(e) = t.expiry {
                rec.record(&m::TLS_CERT_EXPIRY, e as f64, &[target]);
            }
            let valid = matches!(t.verdict, Some(Ok(())));
            rec.record(
                &m::TLS_CHAIN_VALID,
                if valid { 1.0 } else { 0.0 },
                &[target],
            );
        }
        result?;
        match &seen.response {
            Some(r) => self.check(r)?,
            None => return Err(Failure::new("protocol", "no response")),
        }
        Ok(took)
    }
}

#[cfg(test)]
mod unit;
