//! The network dashboards (`dashboards/grafana/network.json` and `order-list.json`) against a
//! real Prometheus holding series the test made: 75 minutes of a workstation (`ws-07`, desk
//! `d3`) probing five targets (an HTTPS page with known phases, a host over ICMP with 20% loss,
//! a TCP port, a resolver, and an HTTPS target failing on its certificate), the passive TCP
//! figures of the workstation and of the server, the server's HTTP RED series for the page's
//! route, and the page's statement in pg_stat_statements. Written as OpenMetrics, loaded with
//! `promtool tsdb create-blocks-from openmetrics`, with `alerts/network.rules.yml` loaded (it
//! must parse). Every query of both dashboards must run, return data, and show what the series
//! imply: above all, the order list's split of one page load into network, server, database and
//! transfer, whose parts add up to the probe's total. There is no Grafana here: variables are
//! replaced as Grafana does for "All" (and for the order list's single choices).
//!
//! The series are made by the test, not by the probes and tcp_info integrations: their names
//! and labels are the catalogue's (checked by lib/dozor-metrics/tests/content), their values
//! by the integrations' own tests.

use dozor_testkit::{Prometheus, http_get, url_encode, wait_for};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const STEP: u64 = 15;
const STEPS: u64 = 300; // 75 minutes
const WS: &str =
    r#"job="dozor-agent",instance="ws-07",site="plant-a",role="workstation",desk="d3""#;
const SRV: &str = r#"job="dozor-agent",instance="mes1",site="hq",role="server""#;
/// Bucket bounds of the ICMP round trips and of the server durations used here.
const RTT_BOUNDS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];
const DURATION: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// The page's probe phases (s): DNS, connect, TLS, first byte, transfer.
const PHASES: [(&str, f64); 5] = [
    ("resolve", 0.004),
    ("connect", 0.012),
    ("tls", 0.030),
    ("first_byte", 0.450),
    ("transfer", 0.060),
];
const PAGE_TOTAL: f64 = 0.556;
/// The route's requests all take 0.3 s, in the (0.25, 0.5] bucket: histogram_quantile puts the
/// q-quantile at 0.25 + 0.25 q.
const ROUTE_REQUESTS: f64 = 10.0; // per step, one statement call each
const SERVER_P50: f64 = 0.25 + 0.25 * 0.5;
const SERVER_P95: f64 = 0.25 + 0.25 * 0.95;
const STATEMENT_MEAN: f64 = 0.12;
const ECHOES_SENT: f64 = 5.0; // per step
const ECHOES_ANSWERED: f64 = 4.0;
const ECHO_RTT: f64 = 0.025;

/// OpenMetrics families: kind and sample lines.
#[derive(Default)]
struct Families(BTreeMap<String, (&'static str, Vec<String>)>);

impl Families {
    fn line(&mut self, family: &str, kind: &'static str, sample: String) {
        self.0
            .entry(family.to_string())
            .or_insert((kind, Vec::new()))
            .1
            .push(sample);
    }

    /// A gauge or counter sample (a counter's series is `<family>_total`).
    fn add(&mut self, family: &str, kind: &'static str, labels: &str, v: f64, t: u64) {
        let name = match kind {
            "counter" => format!("{family}_total"),
            _ => family.to_string(),
        };
        self.line(family, kind, format!("{name}{{{labels}}} {v} {t}"));
    }

    /// `count` observations of `value` so far: buckets, count and sum.
    fn histogram(
        &mut self,
        family: &str,
        labels: &str,
        bounds: &[f64],
        count: f64,
        value: f64,
        t: u64,
    ) {
        for le in bounds {
            let b = if value <= *le { count } else { 0.0 };
            let s = format!("{family}_bucket{{{labels},le=\"{le}\"}} {b} {t}");
            self.line(family, "histogram", s);
        }
        let s = format!("{family}_bucket{{{labels},le=\"+Inf\"}} {count} {t}");
        self.line(family, "histogram", s);
        self.line(
            family,
            "histogram",
            format!("{family}_count{{{labels}}} {count} {t}"),
        );
        let s = format!("{family}_sum{{{labels}}} {} {t}", count * value);
        self.line(family, "histogram", s);
    }

    fn text(self) -> String {
        let mut out = String::new();
        for (family, (kind, mut lines)) in self.0 {
            writeln!(out, "# TYPE {family} {kind}").unwrap();
            // OpenMetrics wants each series' samples together, in time order.
            lines.sort_by_key(|l| {
                l.rsplit_once(' ')
                    .map(|(s, _)| s.rsplit_once(' ').unwrap().0.to_string())
            });
            for l in lines {
                writeln!(out, "{l}").unwrap();
            }
        }
        out + "# EOF\n"
    }
}

/// The OpenMetrics text of the series, samples at `end - STEPS*STEP .. end`.
fn openmetrics(end: u64) -> String {
    let mut f = Families::default();
    for i in 0..=STEPS {
        let t = end - (STEPS - i) * STEP;
        let k = (i + 1) as f64;
        let ws = |extra: &str| format!("{WS},{extra}");
        let srv = |extra: &str| format!("{SRV},{extra}");
        // Probes from the workstation.
        for (target, kind, ok) in [
            ("order-list", "http", true),
            ("gateway", "icmp", true),
            ("mes-db", "tcp", true),
            ("corp-dns", "dns", true),
            ("wiki", "http", false),
        ] {
            let l = ws(&format!(r#"probe_target="{target}",probe_kind="{kind}""#));
            f.add(
                "dozor_probe_success",
                "gauge",
                &l,
                f64::from(u8::from(ok)),
                t,
            );
            f.add("dozor_probe_runs", "counter", &l, k, t);
            let duration = match target {
                "order-list" => PAGE_TOTAL,
                "gateway" => ECHO_RTT,
                "mes-db" => 0.0008,
                _ => 0.003,
            };
            if ok {
                f.add("dozor_probe_duration_seconds", "gauge", &l, duration, t);
            } else {
                let l = format!(r#"{l},error_type="certificate_untrusted""#);
                f.add("dozor_probe_failures", "counter", &l, k, t);
            }
        }
        for (phase, v) in PHASES {
            let l = ws(&format!(
                r#"probe_target="order-list",probe_phase="{phase}""#
            ));
            f.add("dozor_probe_http_phase_duration_seconds", "gauge", &l, v, t);
        }
        // The failing target got as far as the TLS handshake: no later phase is recorded.
        for (phase, v) in [("resolve", 0.002), ("connect", 0.010)] {
            let l = ws(&format!(r#"probe_target="wiki",probe_phase="{phase}""#));
            f.add("dozor_probe_http_phase_duration_seconds", "gauge", &l, v, t);
        }
        let page = ws(r#"probe_target="order-list""#);
        let wiki = ws(r#"probe_target="wiki""#);
        f.add("dozor_probe_http_status_code", "gauge", &page, 200.0, t);
        f.add("dozor_probe_http_redirects", "gauge", &page, 0.0, t);
        let expiry = |days: f64| end as f64 + days * 86400.0;
        let family = "dozor_probe_tls_cert_expiry_seconds";
        f.add(family, "gauge", &page, expiry(10.0), t);
        f.add(family, "gauge", &wiki, expiry(-1.0), t);
        f.add("dozor_probe_tls_chain_valid", "gauge", &page, 1.0, t);
        f.add("dozor_probe_tls_chain_valid", "gauge", &wiki, 0.0, t);
        let gw = ws(r#"probe_target="gateway""#);
        for (stat, v) in [
            ("min", 0.024),
            ("avg", ECHO_RTT),
            ("max", 0.027),
            ("stddev", 0.001),
        ] {
            let l = format!(r#"{gw},probe_stat="{stat}""#);
            f.add("dozor_probe_icmp_rtt_seconds", "gauge", &l, v, t);
        }
        f.add(
            "dozor_probe_icmp_packets_sent",
            "counter",
            &gw,
            ECHOES_SENT * k,
            t,
        );
        f.add(
            "dozor_probe_icmp_packets_received",
            "counter",
            &gw,
            ECHOES_ANSWERED * k,
            t,
        );
        let loss = 1.0 - ECHOES_ANSWERED / ECHOES_SENT;
        f.add("dozor_probe_icmp_loss_ratio", "gauge", &gw, loss, t);
        let family = "dozor_probe_icmp_round_trip_seconds";
        f.histogram(family, &gw, RTT_BOUNDS, ECHOES_ANSWERED * k, ECHO_RTT, t);
        f.add(
            "dozor_probe_dns_answers",
            "gauge",
            &ws(r#"probe_target="corp-dns""#),
            2.0,
            t,
        );
        // Passive TCP: the workstation to the MES API, and the server to the workstation.
        for (host, peer, p) in [
            (WS, "mes-api", &PEER_WS),
            (SRV, "10.0.3.17->:8080", &PEER_SRV),
        ] {
            let l = format!(r#"{host},tcp_peer="{peer}""#);
            f.add("dozor_tcp_peer_rtt_seconds", "gauge", &l, p.rtt, t);
            f.add("dozor_tcp_peer_rtt_min_seconds", "gauge", &l, p.rtt_min, t);
            f.add(
                "dozor_tcp_peer_rtt_variance_seconds",
                "gauge",
                &l,
                p.rtt_var,
                t,
            );
            f.add(
                "dozor_tcp_peer_retransmits",
                "counter",
                &l,
                p.retrans * k,
                t,
            );
            f.add("dozor_tcp_peer_lost", "gauge", &l, p.lost, t);
            f.add("dozor_tcp_peer_reordering", "gauge", &l, 3.0, t);
            for (dir, bytes) in [("transmit", p.sent), ("receive", p.received)] {
                let d = format!(r#"{l},network_io_direction="{dir}""#);
                f.add("dozor_tcp_peer_bytes", "counter", &d, bytes * k, t);
            }
            let rate = "dozor_tcp_peer_delivery_rate_bytes_per_second";
            f.add(rate, "gauge", &l, p.delivery, t);
            f.add("dozor_tcp_peer_sockets", "gauge", &l, p.sockets, t);
            f.add(
                "dozor_tcp_info_overflow_peers",
                "gauge",
                host,
                p.overflow,
                t,
            );
        }
        // The server: the page's route (0.3 s) and another one (10 ms), and its statements.
        for (route, n, d) in [
            ("/api/orders", ROUTE_REQUESTS, 0.3),
            ("/api/orders/{id}", 50.0, 0.01),
        ] {
            let l = srv(&format!(
                r#"service_name="mes-api",http_request_method="GET",http_route="{route}",http_response_status_code="200",server_address="10.0.0.5",server_port="8080""#
            ));
            f.histogram(
                "http_server_request_duration_seconds",
                &l,
                DURATION,
                n * k,
                d,
                t,
            );
        }
        for (queryid, calls, mean) in [
            ("8231", ROUTE_REQUESTS, STATEMENT_MEAN),
            ("other", 40.0, 0.002),
        ] {
            let l = srv(&format!(
                r#"postgresql_instance="mes",postgresql_database_name="mes",postgresql_queryid="{queryid}""#
            ));
            f.add(
                "dozor_postgresql_statement_calls",
                "counter",
                &l,
                calls * k,
                t,
            );
            let family = "dozor_postgresql_statement_time_seconds";
            f.add(family, "counter", &l, calls * mean * k, t);
        }
        f.add("target_info", "gauge", WS, 1.0, t);
        f.add("target_info", "gauge", SRV, 1.0, t);
    }
    f.text()
}

/// Passive TCP figures of one peer (counters per step).
struct Peer {
    rtt: f64,
    rtt_min: f64,
    rtt_var: f64,
    retrans: f64,
    lost: f64,
    sent: f64,
    received: f64,
    delivery: f64,
    sockets: f64,
    overflow: f64,
}

/// 200 full segments a step to the MES API, 6 of them retransmitted: 3%.
const PEER_WS: Peer = Peer {
    rtt: 0.021,
    rtt_min: 0.019,
    rtt_var: 0.003,
    retrans: 6.0,
    lost: 1.0,
    sent: 1448.0 * 200.0,
    received: 1_000_000.0,
    delivery: 5e6,
    sockets: 4.0,
    overflow: 0.0,
};
/// 300 full segments a step to the workstation, 3 retransmitted: 1%.
const PEER_SRV: Peer = Peer {
    rtt: 0.022,
    rtt_min: 0.020,
    rtt_var: 0.004,
    retrans: 3.0,
    lost: 0.0,
    sent: 1448.0 * 300.0,
    received: 15_000.0,
    delivery: 2e6,
    sockets: 12.0,
    overflow: 2.0,
};

/// What a query must show, per result series.
#[derive(Clone, Copy)]
enum Want {
    /// Every series has this value.
    All(f64),
    /// The value by one label's value.
    By(&'static str, &'static [(&'static str, f64)]),
    /// Echoes answered per minute at or under the series' `le`.
    Heatmap,
    /// Payload bytes per second by peer and direction.
    Throughput,
}

fn expected(want: Want, metric: &Value) -> Option<f64> {
    match want {
        Want::All(v) => Some(v),
        Want::By(label, table) => {
            let got = metric[label].as_str()?;
            table.iter().find(|(v, _)| *v == got).map(|(_, x)| *x)
        }
        Want::Heatmap => {
            let le = metric["le"].as_str()?;
            let le: f64 = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some(if ECHO_RTT <= le {
                ECHOES_ANSWERED * 60.0 / STEP as f64
            } else {
                0.0
            })
        }
        Want::Throughput => {
            let p = match metric["tcp_peer"].as_str()? {
                "mes-api" => &PEER_WS,
                _ => &PEER_SRV,
            };
            let bytes = match metric["network_io_direction"].as_str()? {
                "transmit" => p.sent,
                _ => p.received,
            };
            Some(bytes / STEP as f64)
        }
    }
}

const S: f64 = STEP as f64;
const PEERS: &str = "tcp_peer";
const TARGET: &str = "probe_target";

/// network.json: every panel query (title, refId), what it shows and how many series.
#[rustfmt::skip]
const NETWORK: &[(&str, &str, Want, usize)] = &[
    ("Probe success", "A", Want::By(TARGET, &[("order-list", 1.0), ("gateway", 1.0), ("mes-db", 1.0), ("corp-dns", 1.0), ("wiki", 0.0)]), 5),
    ("Failures by reason", "A", Want::All(60.0 / S), 1),
    ("RTT heatmap", "A", Want::Heatmap, RTT_BOUNDS.len() + 1),
    ("ICMP loss", "A", Want::All(0.2), 1),
    ("ICMP loss", "B", Want::All(0.2), 1),
    ("ICMP round trip min/avg/max", "A", Want::By("probe_stat", &[("min", 0.024), ("avg", ECHO_RTT), ("max", 0.027)]), 3),
    ("ICMP round trip min/avg/max", "B", Want::All(0.001), 1),
    ("Probe duration", "A", Want::By(TARGET, &[("order-list", PAGE_TOTAL), ("gateway", ECHO_RTT), ("mes-db", 0.0008), ("corp-dns", 0.003)]), 4),
    ("TCP connect time", "A", Want::All(0.0008), 1),
    ("HTTP phases stacked", "A", Want::By(TARGET, &[("order-list", 0.004), ("wiki", 0.002)]), 2),
    ("HTTP phases stacked", "B", Want::By(TARGET, &[("order-list", 0.012), ("wiki", 0.010)]), 2),
    ("HTTP phases stacked", "C", Want::All(0.030), 1),
    ("HTTP phases stacked", "D", Want::All(0.450), 1),
    ("HTTP phases stacked", "E", Want::All(0.060), 1),
    ("HTTP status and redirects", "A", Want::All(200.0), 1),
    ("HTTP status and redirects", "B", Want::All(0.0), 1),
    ("Certificate: days left", "A", Want::By(TARGET, &[("order-list", 10.0), ("wiki", -1.0)]), 2),
    ("Certificate chain valid", "A", Want::By(TARGET, &[("order-list", 1.0), ("wiki", 0.0)]), 2),
    ("DNS resolution time", "A", Want::All(0.003), 1),
    ("DNS answers", "A", Want::All(2.0), 1),
    ("Passive RTT per peer", "A", Want::By(PEERS, &[("mes-api", 0.021), ("10.0.3.17->:8080", 0.022)]), 2),
    ("Passive RTT per peer", "B", Want::By(PEERS, &[("mes-api", 0.019), ("10.0.3.17->:8080", 0.020)]), 2),
    ("Passive RTT variation per peer", "A", Want::By(PEERS, &[("mes-api", 0.003), ("10.0.3.17->:8080", 0.004)]), 2),
    ("Retransmits per peer", "A", Want::By(PEERS, &[("mes-api", 6.0 / S), ("10.0.3.17->:8080", 3.0 / S)]), 2),
    ("Retransmitted share per peer", "A", Want::By(PEERS, &[("mes-api", 0.03), ("10.0.3.17->:8080", 0.01)]), 2),
    ("Lost and reordering", "A", Want::By(PEERS, &[("mes-api", 1.0), ("10.0.3.17->:8080", 0.0)]), 2),
    ("Lost and reordering", "B", Want::All(3.0), 2),
    ("Throughput and delivery rate per peer", "A", Want::Throughput, 4),
    ("Throughput and delivery rate per peer", "B", Want::By(PEERS, &[("mes-api", 5e6), ("10.0.3.17->:8080", 2e6)]), 2),
    ("Sockets per peer and peers folded into _other", "A", Want::By(PEERS, &[("mes-api", 4.0), ("10.0.3.17->:8080", 12.0)]), 2),
    ("Sockets per peer and peers folded into _other", "B", Want::By("instance", &[("ws-07", 0.0), ("mes1", 2.0)]), 2),
];

/// The order list's parts of one page load: they add up to the probe's total.
const SETUP: f64 = 0.004 + 0.012 + 0.030;
const ROUND_TRIP: f64 = 0.450 - SERVER_P50;
const SERVER_OWN: f64 = SERVER_P50 - STATEMENT_MEAN;
const TRANSFER: f64 = 0.060;

/// order-list.json, with the page order-list, mes-api's route /api/orders and statement 8231.
#[rustfmt::skip]
const ORDER_LIST: &[(&str, &str, Want, usize)] = &[
    ("Where does the time go: one load of the page", "A", Want::All(SETUP), 1),
    ("Where does the time go: one load of the page", "B", Want::All(ROUND_TRIP), 1),
    ("Where does the time go: one load of the page", "C", Want::All(SERVER_OWN), 1),
    ("Where does the time go: one load of the page", "D", Want::All(STATEMENT_MEAN), 1),
    ("Where does the time go: one load of the page", "E", Want::All(TRANSFER), 1),
    ("Network share", "A", Want::All((SETUP + ROUND_TRIP) / PAGE_TOTAL), 1),
    ("Server share", "A", Want::All(SERVER_OWN / PAGE_TOTAL), 1),
    ("Database share", "A", Want::All(STATEMENT_MEAN / PAGE_TOTAL), 1),
    ("Transfer share", "A", Want::All(TRANSFER / PAGE_TOTAL), 1),
    ("Probe phases", "A", Want::By("probe_phase", &PHASES), 5),
    ("Probe total per workstation", "A", Want::All(PAGE_TOTAL), 1),
    ("Passive RTT to the server", "A", Want::By(PEERS, &[("mes-api", 0.021), ("10.0.3.17->:8080", 0.022)]), 2),
    ("Passive RTT to the server", "B", Want::By(PEERS, &[("mes-api", 0.019), ("10.0.3.17->:8080", 0.020)]), 2),
    ("Server: route p50 and p95", "A", Want::All(SERVER_P50), 1),
    ("Server: route p50 and p95", "B", Want::All(SERVER_P95), 1),
    ("Database: the statement's mean time per call and calls", "A", Want::All(STATEMENT_MEAN), 1),
    ("Database calls and route requests per second", "A", Want::All(ROUTE_REQUESTS / S), 1),
    ("Database calls and route requests per second", "B", Want::All(ROUTE_REQUESTS / S), 1),
];

fn query_at(prom: &str, expr: &str, time: u64) -> Value {
    let (_, body) = http_get(
        prom,
        &format!("/api/v1/query?query={}&time={time}", url_encode(expr)),
    )
    .expect("querying Prometheus");
    serde_json::from_str(&body).unwrap()
}

/// Grafana's substitution: "All" (`.*`) for the multi-value variables, the order list's page,
/// service, route and statement for its single-value ones.
fn substitute(expr: &str, target: &str) -> String {
    [
        ("$__rate_interval", "1m"),
        ("$site", ".*"),
        ("$desk", ".*"),
        ("$instance", ".*"),
        ("$peer", ".*"),
        ("$target", target),
        ("$service", "mes-api"),
        ("$route", "/api/orders"),
        ("$queryid", "8231"),
    ]
    .iter()
    .fold(expr.to_string(), |e, (var, value)| e.replace(var, value))
}

fn load(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../dashboards/grafana")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Runs every panel query of `dashboard` and compares it with `panels`; returns the problems.
fn check(
    prom: &str,
    end: u64,
    name: &str,
    dashboard: &Value,
    panels: &[(&str, &str, Want, usize)],
    target: &str,
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut failures = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for query in panel["targets"].as_array().into_iter().flatten() {
            let (title, refid) = (
                panel["title"].as_str().unwrap(),
                query["refId"].as_str().unwrap(),
            );
            let Some(&(_, _, want, count)) = panels.iter().find(|p| p.0 == title && p.1 == refid)
            else {
                failures.push(format!(
                    "{name}: {title} / {refid}: not checked by this test; add it"
                ));
                continue;
            };
            seen.push((title, refid));
            let expr = substitute(query["expr"].as_str().unwrap(), target);
            let v = query_at(prom, &expr, end);
            let series = v["data"]["result"].as_array().cloned().unwrap_or_default();
            if v["status"] != "success" || series.is_empty() {
                failures.push(format!(
                    "{name}: {title} / {refid}: {expr}: failed or returned nothing: {v}"
                ));
                continue;
            }
            if series.len() != count {
                failures.push(format!(
                    "{name}: {title} / {refid}: {} series, want {count}: {series:?}",
                    series.len()
                ));
            }
            for s in &series {
                let got: f64 = s["value"][1].as_str().unwrap().parse().unwrap();
                match expected(want, &s["metric"]) {
                    Some(want) if (got - want).abs() <= 1e-9 * want.abs().max(1.0) => {}
                    want => failures.push(format!(
                        "{name}: {title} / {refid}: {} = {got}, want {want:?}",
                        s["metric"]
                    )),
                }
                // Every legend label is on the result (desk included).
                let legend = query["legendFormat"].as_str().unwrap_or("");
                for part in legend.split("{{").skip(1) {
                    let label = part.split("}}").next().unwrap().trim();
                    if s["metric"].get(label).is_none() {
                        failures.push(format!(
                            "{name}: {title} / {refid}: legend {{{{{label}}}}} not in {}",
                            s["metric"]
                        ));
                    }
                }
            }
        }
    }
    for (title, refid, _, _) in panels {
        if !seen.contains(&(title, refid)) {
            failures.push(format!("{name}: {title} / {refid}: no such query"));
        }
    }
    failures
}

/// The values a `label_values(selector, label)` variable lists.
fn variable(prom: &str, end: u64, dashboard: &Value, var: &str, target: &str) -> Vec<String> {
    let q = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == var)
        .unwrap_or_else(|| panic!("no variable {var}"))["query"]
        .as_str()
        .unwrap()
        .to_string();
    let (selector, label) = q
        .strip_prefix("label_values(")
        .and_then(|r| r.strip_suffix(')'))
        .and_then(|r| r.rsplit_once(','))
        .unwrap();
    let v = query_at(prom, &substitute(selector, target), end);
    let mut got: Vec<String> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["metric"][label.trim()].as_str().map(String::from))
        .collect();
    got.sort();
    got.dedup();
    got
}

#[test]
fn every_network_and_order_list_query_shows_the_series_it_was_given() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let end = now / STEP * STEP;
    let rules =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../alerts/network.rules.yml");
    let prometheus = Prometheus::with_history(d, &openmetrics(end), &[&rules]);
    let prom = &prometheus.addr;
    // The blocks are loaded when Prometheus is ready; wait until the data answers.
    wait_for(Duration::from_secs(30), || {
        let v = query_at(prom, "target_info", end);
        (v["data"]["result"].as_array().map_or(0, Vec::len) == 2).then_some(())
    })
    .expect("the loaded series never showed up");

    let network = load("network.json");
    let order = load("order-list.json");
    let mut failures = check(prom, end, "network.json", &network, NETWORK, ".*");
    failures.extend(check(
        prom,
        end,
        "order-list.json",
        &order,
        ORDER_LIST,
        "order-list",
    ));
    // The parts of the order list add up to the probe's total.
    let sum = SETUP + ROUND_TRIP + SERVER_OWN + STATEMENT_MEAN + TRANSFER;
    assert!((sum - PAGE_TOTAL).abs() < 1e-12, "{sum} != {PAGE_TOTAL}");
    for (board, dash, var, want) in [
        (
            "network.json",
            &network,
            "target",
            vec!["corp-dns", "gateway", "mes-db", "order-list", "wiki"],
        ),
        (
            "network.json",
            &network,
            "peer",
            vec!["10.0.3.17->:8080", "mes-api"],
        ),
        ("network.json", &network, "desk", vec!["d3"]),
        ("network.json", &network, "instance", vec!["mes1", "ws-07"]),
        (
            "order-list.json",
            &order,
            "target",
            vec!["order-list", "wiki"],
        ),
        ("order-list.json", &order, "service", vec!["mes-api"]),
        (
            "order-list.json",
            &order,
            "route",
            vec!["/api/orders", "/api/orders/{id}"],
        ),
        ("order-list.json", &order, "queryid", vec!["8231", "other"]),
    ] {
        let got = variable(prom, end, dash, var, ".*");
        if got != want {
            failures.push(format!("{board}: variable ${var}: {got:?}, want {want:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "the network dashboards against the series:\n{}",
        failures.join("\n")
    );
}
