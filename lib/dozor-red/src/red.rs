//! Finished and in-flight HTTP requests into the catalogue's `http.*` series.
//!
//! Finished requests go into three histograms per series (duration, request and response body
//! size), kept cumulative since the process started. Requests still running are kept by id, so
//! that `http.*.active_requests` and the age of the oldest one per route show a 30-minute
//! request while it runs; one still without a response after `give_up` is dropped from them and
//! counted as abandoned, never given a status. A series is (side, service, method, route,
//! status, server address, server port); beyond `max_series` of them a new one is recorded under
//! the route `_other` and counted in `dozor.http.overflow.series`.

use crate::{DURATION_BUCKETS, Routes, SIZE_BUCKETS, method};
use dozor_metrics::catalogue::http as m;
use dozor_metrics::sample::{Buckets, Recorder};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// The route of requests over the series budget.
pub const OVERFLOW_ROUTE: &str = "_other";

/// Which end of the request this host is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// It served the request: `http.server.*`.
    Server,
    /// It made the request: `http.client.*`.
    Client,
}

/// One finished request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange<'a> {
    /// Which end this host is.
    pub side: Side,
    /// The `service.name` attribute.
    pub service: &'a str,
    /// The request method as sent.
    pub method: &'a str,
    /// The request target as sent (path and query): made a route here.
    pub target: &'a str,
    /// The final status code (100..=999); anything else is not recorded.
    pub status: u16,
    /// The server's address.
    pub server_address: &'a str,
    /// The server's port.
    pub server_port: u16,
    /// When the request started, Unix nanoseconds.
    pub start_ns: u64,
    /// When the response ended, Unix nanoseconds.
    pub end_ns: u64,
    /// Request body bytes, when the source knows them: `None` is left out of the size
    /// histogram instead of counted as an empty body.
    pub request_bytes: Option<u64>,
    /// Response body bytes, when the source knows them.
    pub response_bytes: Option<u64>,
}

/// A request seen whose response has not ended.
#[derive(Clone, Debug)]
pub struct Begin<'a> {
    /// Which end this host is.
    pub side: Side,
    /// The `service.name` attribute.
    pub service: &'a str,
    /// The request method as sent.
    pub method: &'a str,
    /// The request target as sent.
    pub target: &'a str,
    /// The server's address.
    pub server_address: &'a str,
    /// The server's port.
    pub server_port: u16,
    /// When the request started, Unix nanoseconds.
    pub start_ns: u64,
}

/// Bounds of the aggregation.
#[derive(Clone, Debug)]
pub struct RedConfig {
    /// Most series (side, service, method, route, status, server) kept; more go to `_other`.
    pub max_series: usize,
    /// How long a request may stay without a response before it is counted as abandoned.
    pub give_up: Duration,
    /// Most requests kept in flight; more are not tracked (counted as abandoned at once).
    pub max_in_flight: usize,
}

impl Default for RedConfig {
    fn default() -> Self {
        RedConfig {
            max_series: 500,
            give_up: Duration::from_secs(2 * 3600),
            max_in_flight: 100_000,
        }
    }
}

/// A route of one service on one server, without status: what in-flight figures are kept by.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct RouteKey {
    side: Side,
    service: String,
    method: &'static str,
    route: String,
    address: String,
    port: u16,
}

#[derive(Clone, Debug)]
struct Hists {
    duration: Buckets,
    request: Buckets,
    response: Buckets,
}

/// The aggregation: see the module documentation.
#[derive(Debug)]
pub struct Red {
    routes: Routes,
    cfg: RedConfig,
    series: BTreeMap<(RouteKey, u16), Hists>,
    in_flight: HashMap<u64, (RouteKey, u64)>,
    /// Every route key seen in flight, with its abandoned count: active gauges stay at 0.
    active_keys: BTreeMap<RouteKey, u64>,
    overflow: BTreeMap<String, u64>,
}

impl Red {
    /// An empty aggregation.
    pub fn new(routes: Routes, cfg: RedConfig) -> Red {
        Red {
            routes,
            cfg,
            series: BTreeMap::new(),
            in_flight: HashMap::new(),
            active_keys: BTreeMap::new(),
            overflow: BTreeMap::new(),
        }
    }

    fn key(
        &self,
        side: Side,
        service: &str,
        method: &str,
        target: &str,
        addr: &str,
        port: u16,
    ) -> RouteKey {
        RouteKey {
            side,
            service: service.to_string(),
            method: method::normalise(method),
            route: self.routes.route(target),
            address: addr.to_string(),
            port,
        }
    }

    fn known(&self, key: &RouteKey) -> bool {
        self.active_keys.contains_key(key)
            || self
                .series
                .range((key.clone(), 0)..=(key.clone(), u16::MAX))
                .next()
                .is_some()
    }

    fn over_budget(&self) -> bool {
        self.series.len() + self.active_keys.len() >= self.cfg.max_series
    }

    fn fold(&mut self, key: &mut RouteKey) {
        *self.overflow.entry(key.service.clone()).or_default() += 1;
        key.route = OVERFLOW_ROUTE.into();
    }

    /// Records a finished request; false (and nothing recorded) when its status is not a final
    /// status code.
    pub fn observe(&mut self, ex: &Exchange<'_>) -> bool {
        if !(100..=999).contains(&ex.status) {
            return false;
        }
        let mut key = self.key(
            ex.side,
            ex.service,
            ex.method,
            ex.target,
            ex.server_address,
            ex.server_port,
        );
        if !self.series.contains_key(&(key.clone(), ex.status)) && self.over_budget() {
            self.fold(&mut key);
        }
        let h = self
            .series
            .entry((key, ex.status))
            .or_insert_with(|| Hists {
                duration: Buckets::new(DURATION_BUCKETS),
                request: Buckets::new(SIZE_BUCKETS),
                response: Buckets::new(SIZE_BUCKETS),
            });
        h.duration
            .observe(ex.end_ns.saturating_sub(ex.start_ns) as f64 / 1e9);
        if let Some(b) = ex.request_bytes {
            h.request.observe(b as f64);
        }
        if let Some(b) = ex.response_bytes {
            h.response.observe(b as f64);
        }
        true
    }

    /// Starts tracking request `id` in flight.
    pub fn begin(&mut self, id: u64, b: &Begin<'_>) {
        let mut key = self.key(
            b.side,
            b.service,
            b.method,
            b.target,
            b.server_address,
            b.server_port,
        );
        if !self.known(&key) && self.over_budget() {
            self.fold(&mut key);
        }
        let abandoned = self.active_keys.entry(key.clone()).or_default();
        if self.in_flight.len() >= self.cfg.max_in_flight {
            *abandoned += 1;
            return;
        }
        self.in_flight.insert(id, (key, b.start_ns));
    }

    /// Request `id` ended (answered or lost): it leaves the in-flight figures, with no status.
    pub fn end(&mut self, id: u64) {
        self.in_flight.remove(&id);
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Gives up on requests older than `give_up`, then records every series as of `now_ns`.
    pub fn record(&mut self, now_ns: u64, rec: &mut Recorder) {
        let give_up = self.cfg.give_up.as_nanos() as u64;
        let active_keys = &mut self.active_keys;
        self.in_flight.retain(|_, (key, start)| {
            let keep = now_ns.saturating_sub(*start) <= give_up;
            if !keep {
                *active_keys.entry(key.clone()).or_default() += 1;
            }
            keep
        });
        for ((k, status), h) in &self.series {
            let status = status.to_string();
            let port = k.port.to_string();
            let attrs = [
                k.service.as_str(),
                k.method,
                &k.route,
                &status,
                &k.address,
                &port,
            ];
            let (d, q, r) = match k.side {
                Side::Server => (
                    &m::SERVER_DURATION,
                    &m::SERVER_REQUEST_SIZE,
                    &m::SERVER_RESPONSE_SIZE,
                ),
                Side::Client => (
                    &m::CLIENT_DURATION,
                    &m::CLIENT_REQUEST_SIZE,
                    &m::CLIENT_RESPONSE_SIZE,
                ),
            };
            rec.record_histogram(d, &h.duration, &attrs);
            rec.record_histogram(q, &h.request, &attrs);
            rec.record_histogram(r, &h.response, &attrs);
        }
        let mut active: BTreeMap<&RouteKey, (u64, u64)> = BTreeMap::new();
        for (key, start) in self.in_flight.values() {
            let e = active.entry(key).or_insert((0, u64::MAX));
            e.0 += 1;
            e.1 = e.1.min(*start);
        }
        for (k, abandoned) in &self.active_keys {
            let port = k.port.to_string();
            let attrs = [k.service.as_str(), k.method, &k.route, &k.address, &port];
            let (count, oldest) = active.get(k).copied().unwrap_or((0, u64::MAX));
            let (a, o, x) = match k.side {
                Side::Server => (
                    &m::SERVER_ACTIVE,
                    &m::SERVER_OLDEST_ACTIVE_AGE,
                    &m::SERVER_ABANDONED,
                ),
                Side::Client => (
                    &m::CLIENT_ACTIVE,
                    &m::CLIENT_OLDEST_ACTIVE_AGE,
                    &m::CLIENT_ABANDONED,
                ),
            };
            rec.record(a, count as f64, &attrs);
            if count > 0 {
                rec.record(o, now_ns.saturating_sub(oldest) as f64 / 1e9, &attrs);
            }
            rec.record(x, *abandoned as f64, &attrs);
        }
        for (service, n) in &self.overflow {
            rec.record(&m::OVERFLOW_SERIES, *n as f64, &[service.as_str()]);
        }
        let mut limited: Vec<(&str, &str, f64)> = Vec::new();
        let routes = self
            .series
            .keys()
            .map(|(k, _)| k)
            .chain(self.active_keys.keys());
        for k in routes {
            if let Some(limit) = self.routes.limit(&k.route)
                && !limited
                    .iter()
                    .any(|(s, r, _)| *s == k.service && *r == k.route)
            {
                limited.push((&k.service, &k.route, limit));
            }
        }
        for (service, route, limit) in limited {
            rec.record(&m::ROUTE_LIMIT, limit, &[service, route]);
        }
    }
}

#[cfg(test)]
mod tests;
