//! The reassembler's events into RED: a request seen starts an in-flight entry, its response
//! ends it and is observed in the histograms, a lost request just ends it (never a status). Which
//! side this host is (`http.server.*` or `http.client.*`) follows the configured `side`, or, for
//! `auto`, whether the server's address is one of this host's. Lost requests and parse errors
//! are counted by the reassembler's reason.

use super::config::SideConfig;
use super::flows::Event;
use dozor_metrics::catalogue::http_capture as m;
use dozor_metrics::sample::Recorder;
use dozor_red::{Begin, Exchange, Red, Side};
use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};

/// Turns events into [`Red`] calls and counts what cannot be observed.
#[derive(Debug)]
pub struct ToRed {
    side: SideConfig,
    services: BTreeMap<u16, String>,
    local: HashSet<IpAddr>,
    /// Requests lost, by reason.
    lost: BTreeMap<&'static str, u64>,
    /// Reassembler errors, by reason.
    errors: BTreeMap<&'static str, u64>,
    /// Every exchange observed (method, target, status, nanoseconds): the tests compare each
    /// request with the server's own log.
    #[cfg(test)]
    pub seen: Vec<(String, String, u16, u64)>,
}

impl ToRed {
    /// Sides by `side`, services by server port (`port-<port>` when not named).
    pub fn new(side: SideConfig, services: BTreeMap<u16, String>) -> ToRed {
        ToRed {
            side,
            services,
            local: HashSet::new(),
            lost: BTreeMap::new(),
            errors: BTreeMap::new(),
            #[cfg(test)]
            seen: Vec::new(),
        }
    }

    /// This host's addresses, for `side: auto`.
    pub fn set_local(&mut self, local: HashSet<IpAddr>) {
        self.local = local;
    }

    /// Which end this host is of a connection to `server`.
    pub fn side(&self, server: &SocketAddr) -> Side {
        match self.side {
            SideConfig::Server => Side::Server,
            SideConfig::Client => Side::Client,
            SideConfig::Auto if server.ip().is_loopback() || self.local.contains(&server.ip()) => {
                Side::Server
            }
            SideConfig::Auto => Side::Client,
        }
    }

    fn service(&self, port: u16) -> std::borrow::Cow<'_, str> {
        match self.services.get(&port) {
            Some(s) => s.as_str().into(),
            None => format!("port-{port}").into(),
        }
    }

    /// Applies one event to `red`.
    pub fn event(&mut self, red: &mut Red, event: Event<'_>) {
        match event {
            Event::Request {
                id,
                server,
                method,
                target,
                start_ns,
                ..
            } => {
                let address = server.ip().to_string();
                red.begin(
                    id,
                    &Begin {
                        side: self.side(&server),
                        service: &self.service(server.port()),
                        method,
                        target,
                        server_address: &address,
                        server_port: server.port(),
                        start_ns,
                    },
                );
            }
            Event::Response {
                id,
                server,
                method,
                target,
                status,
                start_ns,
                end_ns,
                request_bytes,
                response_bytes,
                ..
            } => {
                red.end(id);
                #[cfg(test)]
                self.seen
                    .push((method.into(), target.into(), status, end_ns - start_ns));
                let address = server.ip().to_string();
                red.observe(&Exchange {
                    side: self.side(&server),
                    service: &self.service(server.port()),
                    method,
                    target,
                    status,
                    server_address: &address,
                    server_port: server.port(),
                    start_ns,
                    end_ns,
                    request_bytes: Some(request_bytes),
                    response_bytes: Some(response_bytes),
                });
            }
            Event::Lost { id, reason } => {
                red.end(id);
                *self.lost.entry(reason).or_default() += 1;
            }
            Event::Error { reason } => *self.errors.entry(reason).or_default() += 1,
        }
    }

    /// Records the counts of lost requests and errors.
    pub fn record(&self, rec: &mut Recorder) {
        for (reason, n) in &self.lost {
            rec.record(&m::LOST, *n as f64, &[reason]);
        }
        for (reason, n) in &self.errors {
            rec.record(&m::PARSE_ERRORS, *n as f64, &[reason]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::testing::value;
    use dozor_red::{RedConfig, Routes, RoutesConfig};

    fn red() -> Red {
        Red::new(
            Routes::new(&RoutesConfig::default()).unwrap(),
            RedConfig::default(),
        )
    }

    const CLIENT: &str = "10.0.0.9:40000";
    const SERVER: &str = "10.0.0.1:8080";

    fn request(id: u64) -> Event<'static> {
        Event::Request {
            id,
            client: CLIENT.parse().unwrap(),
            server: SERVER.parse().unwrap(),
            method: "GET",
            target: "/orders/17?x=1",
            start_ns: 1_000_000_000,
        }
    }

    fn response(id: u64, status: u16) -> Event<'static> {
        Event::Response {
            id,
            client: CLIENT.parse().unwrap(),
            server: SERVER.parse().unwrap(),
            method: "GET",
            target: "/orders/17?x=1",
            status,
            start_ns: 1_000_000_000,
            end_ns: 1_250_000_000,
            request_bytes: 0,
            response_bytes: 42,
        }
    }

    fn run(
        side: SideConfig,
        local: &[&str],
        events: Vec<Event<'static>>,
    ) -> Vec<dozor_metrics::sample::Sample> {
        let mut to = ToRed::new(side, [(8080, "mes-api".to_string())].into());
        to.set_local(local.iter().map(|a| a.parse().unwrap()).collect());
        let mut red = red();
        for e in events {
            to.event(&mut red, e);
        }
        let mut rec = Recorder::new();
        red.record(1_500_000_000, &mut rec);
        to.record(&mut rec);
        rec.take()
    }

    const SERIES: [&str; 6] = ["mes-api", "GET", "/orders/{id}", "200", "10.0.0.1", "8080"];
    const ACTIVE: [&str; 5] = ["mes-api", "GET", "/orders/{id}", "10.0.0.1", "8080"];

    #[test]
    fn auto_is_the_server_side_when_the_server_address_is_local() {
        let s = run(
            SideConfig::Auto,
            &["10.0.0.1"],
            vec![request(1), response(1, 200)],
        );
        assert_eq!(
            value(&s, "http.server.request.duration", &SERIES),
            Some(1.0)
        );
        assert_eq!(value(&s, "http.client.request.duration", &SERIES), None);
        let s = run(
            SideConfig::Auto,
            &["10.0.0.9"],
            vec![request(1), response(1, 200)],
        );
        assert_eq!(
            value(&s, "http.client.request.duration", &SERIES),
            Some(1.0)
        );
        let s = run(
            SideConfig::Client,
            &["10.0.0.1"],
            vec![request(1), response(1, 200)],
        );
        assert_eq!(
            value(&s, "http.client.request.duration", &SERIES),
            Some(1.0)
        );
        let s = run(SideConfig::Server, &[], vec![request(1), response(1, 200)]);
        assert_eq!(
            value(&s, "http.server.request.duration", &SERIES),
            Some(1.0)
        );
        assert_eq!(value(&s, "http.server.active_requests", &ACTIVE), Some(0.0));
    }

    #[test]
    fn a_lost_request_leaves_flight_without_a_status_and_is_counted() {
        let s = run(
            SideConfig::Server,
            &[],
            vec![
                request(1),
                request(2),
                Event::Lost {
                    id: 1,
                    reason: "gap",
                },
                Event::Error {
                    reason: "bad_request",
                },
            ],
        );
        assert_eq!(value(&s, "http.server.active_requests", &ACTIVE), Some(1.0));
        assert_eq!(value(&s, "dozor.http_capture.lost", &["gap"]), Some(1.0));
        assert_eq!(
            value(&s, "dozor.http_capture.parse.errors", &["bad_request"]),
            Some(1.0)
        );
        assert!(
            s.iter()
                .all(|x| x.metric.name != "http.server.request.duration")
        );
    }

    #[test]
    fn an_unnamed_port_is_its_own_service() {
        let mut to = ToRed::new(SideConfig::Server, BTreeMap::new());
        assert_eq!(to.service(9000), "port-9000");
        to.services.insert(9000, "crm".into());
        assert_eq!(to.service(9000), "crm");
    }
}
