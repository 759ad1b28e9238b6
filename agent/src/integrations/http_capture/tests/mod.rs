//! Tests of the `http_capture` integration: configuration, a live capture on `lo` against a
//! real server and clients, a pcap file with known exchanges, and the open errors.

mod client;
mod config;
mod errors;
mod live;
mod offline;
mod server;

/// The route the test expects for a target: its own rule, not the library's.
pub fn route_of(target: &str) -> String {
    match target.strip_prefix("/orders/") {
        Some(id) if id.bytes().all(|b| b.is_ascii_digit()) => "/orders/{id}".into(),
        _ => target.into(),
    }
}
