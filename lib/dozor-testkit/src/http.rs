//! Plain HTTP/1.0 requests to the processes under test, and instant PromQL queries against a
//! Prometheus.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A plain HTTP/1.0 GET; returns the status code and body.
pub fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

/// Percent-encodes a query parameter value.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs an instant PromQL query against a Prometheus at `addr`; returns the parsed response.
pub fn prom_query(addr: &str, expr: &str) -> serde_json::Value {
    let (status, body) = http_get(addr, &format!("/api/v1/query?query={}", url_encode(expr)))
        .expect("querying Prometheus");
    serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("Prometheus answered {status} with non-JSON ({e}): {body}"))
}

/// The `data.result` array of a successful instant query, or a panic naming the query's error.
pub fn prom_result(addr: &str, expr: &str) -> Vec<serde_json::Value> {
    let v = prom_query(addr, expr);
    assert_eq!(v["status"], "success", "query {expr} failed: {v}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}
