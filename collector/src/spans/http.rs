//! What an OTLP span says about one HTTP request: the pure reading of a span's kind, times and
//! attributes (OpenTelemetry HTTP semantic conventions, with the attribute names instrumentations
//! used before semconv 1.21 as fallbacks), before any metric is touched.
//!
//! | field | read from, first present wins |
//! |---|---|
//! | side | span kind `SERVER` or `CLIENT`; other kinds are not HTTP RED |
//! | method | `http.request.method`, `http.method` |
//! | route | `http.route`, else the path of `url.path`, `http.target`, `url.full`, `http.url` (templated later) |
//! | status | `http.response.status_code`, `http.status_code` (an integer, or a string of digits) |
//! | server address | `server.address`; server spans `net.host.name`, `http.host`; client spans `net.peer.name`; then the host of `url.full` / `http.url` |
//! | server port | `server.port`; server spans `net.host.port`, the port of `http.host`; client spans `net.peer.port`; then the port of `url.full` / `http.url`, or its scheme's (80, 443) |
//! | body sizes | `http.request.body.size`, `http.request_content_length`; `http.response.body.size`, `http.response_content_length`; left out of the size histograms when absent |
//! | duration | `end_time_unix_nano - start_time_unix_nano` |

use dozor_metrics::otlp::common::v1::{KeyValue, any_value};
use dozor_metrics::otlp::trace::v1::{Span, span::SpanKind};
use dozor_red::{Exchange, Side};

/// Why a span makes no HTTP RED measurement: the `result` of `dozor.collector.spans`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Its kind is neither `SERVER` nor `CLIENT`.
    NotServerOrClient,
    /// It has no `http.request.method` (nor `http.method`): not an HTTP span.
    NotHttp,
    /// No status code, 0, or one outside 100–599: never given a made-up status.
    StatusMissing,
    /// Neither a route nor any path to make one from.
    TargetMissing,
    /// No start time, or an end before the start.
    BadTiming,
}

/// The attributes this module reads, found in one pass.
#[derive(Default)]
struct Found<'a> {
    method: [Option<&'a any_value::Value>; 2],
    route: Option<&'a any_value::Value>,
    path: [Option<&'a any_value::Value>; 2],
    url: [Option<&'a any_value::Value>; 2],
    status: [Option<&'a any_value::Value>; 2],
    address: [Option<&'a any_value::Value>; 3],
    port: [Option<&'a any_value::Value>; 2],
    request_bytes: [Option<&'a any_value::Value>; 2],
    response_bytes: [Option<&'a any_value::Value>; 2],
}

impl<'a> Found<'a> {
    fn of(attributes: &'a [KeyValue], side: Side) -> Self {
        let mut f = Found::default();
        for kv in attributes {
            let Some(v) = kv.value.as_ref().and_then(|v| v.value.as_ref()) else {
                continue;
            };
            let slot = match (kv.key.as_str(), side) {
                ("http.request.method", _) => &mut f.method[0],
                ("http.method", _) => &mut f.method[1],
                ("http.route", _) => &mut f.route,
                ("url.path", _) => &mut f.path[0],
                ("http.target", _) => &mut f.path[1],
                ("url.full", _) => &mut f.url[0],
                ("http.url", _) => &mut f.url[1],
                ("http.response.status_code", _) => &mut f.status[0],
                ("http.status_code", _) => &mut f.status[1],
                ("server.address", _) => &mut f.address[0],
                ("net.host.name", Side::Server) | ("net.peer.name", Side::Client) => {
                    &mut f.address[1]
                }
                ("http.host", Side::Server) => &mut f.address[2],
                ("server.port", _) => &mut f.port[0],
                ("net.host.port", Side::Server) | ("net.peer.port", Side::Client) => &mut f.port[1],
                ("http.request.body.size", _) => &mut f.request_bytes[0],
                ("http.request_content_length", _) => &mut f.request_bytes[1],
                ("http.response.body.size", _) => &mut f.response_bytes[0],
                ("http.response_content_length", _) => &mut f.response_bytes[1],
                _ => continue,
            };
            slot.get_or_insert(v);
        }
        f
    }
}

fn text(v: &any_value::Value) -> Option<&str> {
    match v {
        any_value::Value::StringValue(s) if !s.is_empty() => Some(s),
        _ => None,
    }
}

fn number(v: &any_value::Value) -> Option<u64> {
    match v {
        any_value::Value::IntValue(i) => u64::try_from(*i).ok(),
        any_value::Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn first<'a, T>(
    slots: &[Option<&'a any_value::Value>],
    f: impl Fn(&'a any_value::Value) -> Option<T>,
) -> Option<T> {
    slots.iter().flatten().find_map(|v| f(v))
}

/// A URL's scheme, host, port and path-and-query (`http://h:8080/a?b` -> `http`, `h`,
/// `Some(8080)`, `/a?b`). Bracketed IPv6 hosts lose their brackets.
pub fn split_url(url: &str) -> Option<(&str, &str, Option<u16>, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = host_port(authority);
    let path = match path.split_once('#') {
        Some((p, _)) => p,
        None => path,
    };
    Some((scheme, host, port, if path.is_empty() { "/" } else { path }))
}

/// `host`, `host:port`, `[v6]:port` -> host and port.
fn host_port(authority: &str) -> (&str, Option<u16>) {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        return (host, after.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p.parse().ok()),
        _ => (authority, None),
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

/// Reads one span; `Err` says why it is not an HTTP RED measurement. The service is the
/// resource's, which the span does not carry: left empty for the caller.
pub fn read(span: &Span) -> Result<Exchange<'_>, Skip> {
    let side = match SpanKind::try_from(span.kind) {
        Ok(SpanKind::Server) => Side::Server,
        Ok(SpanKind::Client) => Side::Client,
        _ => return Err(Skip::NotServerOrClient),
    };
    let f = Found::of(&span.attributes, side);
    let method = first(&f.method, text).ok_or(Skip::NotHttp)?;
    let status = first(&f.status, number)
        .filter(|s| (100..=599).contains(s))
        .ok_or(Skip::StatusMissing)? as u16;
    let url = first(&f.url, text).and_then(split_url);
    let target = f
        .route
        .and_then(text)
        .or_else(|| first(&f.path, text))
        .or(url.map(|u| u.3))
        .ok_or(Skip::TargetMissing)?;
    if span.start_time_unix_nano == 0 || span.end_time_unix_nano < span.start_time_unix_nano {
        return Err(Skip::BadTiming);
    }
    let http_host = f.address[2].and_then(text).map(host_port);
    let server_address = first(&f.address[..2], text)
        .or(http_host.map(|h| h.0))
        .or(url.map(|u| u.1))
        .unwrap_or("");
    let server_port = first(&f.port, number)
        .and_then(|p| u16::try_from(p).ok())
        .or(http_host.and_then(|h| h.1))
        .or(url.and_then(|u| u.2.or_else(|| default_port(u.0))))
        .unwrap_or(0);
    Ok(Exchange {
        side,
        service: "",
        method,
        target,
        status,
        server_address,
        server_port,
        start_ns: span.start_time_unix_nano,
        end_ns: span.end_time_unix_nano,
        request_bytes: first(&f.request_bytes, number),
        response_bytes: first(&f.response_bytes, number),
    })
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
