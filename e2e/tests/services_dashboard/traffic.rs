//! The traffic of `services_dashboard.rs`: HTTP RED series with known requests per route, as
//! OpenMetrics for `promtool tsdb create-blocks-from openmetrics`, and histogram_quantile's
//! definition to compute the percentiles they imply.

use std::collections::BTreeMap;
use std::fmt::Write;

/// Bucket bounds of `dozor_red::DURATION_BUCKETS` (1 ms to 1 h) and of the body sizes used here.
pub const DURATION: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
];
pub const SIZE: &[f64] = &[0.0, 100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0];
pub const STEP: u64 = 15;
pub const STEPS: u64 = 300; // 75 minutes
pub const AGENT: &str = r#"job="dozor-agent",instance="mes1",site="hq",role="server""#;

/// One series of traffic: every 15 s, `n` requests of `duration` seconds and `size` bytes.
pub struct Traffic {
    pub service: &'static str,
    pub method: &'static str,
    pub route: &'static str,
    pub status: &'static str,
    pub n: f64,
    pub duration: f64,
    pub size: f64,
}

#[rustfmt::skip]
pub const TRAFFIC: &[Traffic] = &[
    Traffic { service: "mes-api", method: "POST", route: "/api/v1/orders", status: "200", n: 90.0, duration: 0.2, size: 1000.0 },
    Traffic { service: "mes-api", method: "POST", route: "/api/v1/orders", status: "500", n: 10.0, duration: 0.2, size: 100.0 },
    Traffic { service: "mes-api", method: "GET", route: "/api/v1/orders/{id}", status: "404", n: 30.0, duration: 0.003, size: 50.0 },
    Traffic { service: "mes-api", method: "POST", route: "/api/v1/calculations", status: "200", n: 1.0, duration: 1500.0, size: 5000.0 },
    Traffic { service: "mes-api", method: "GET", route: "_other", status: "200", n: 5.0, duration: 0.02, size: 200.0 },
    Traffic { service: "shop", method: "GET", route: "/", status: "200", n: 50.0, duration: 0.04, size: 20000.0 },
    Traffic { service: "shop", method: "POST", route: "/checkout", status: "200", n: 18.0, duration: 0.8, size: 3000.0 },
    Traffic { service: "shop", method: "POST", route: "/checkout", status: "503", n: 2.0, duration: 3.0, size: 3000.0 },
];

/// The cost calculation in flight: 2 requests served (1 made), the oldest 1500 s old, limit 2400 s.
pub const CALC: &str = r#"service_name="mes-api",http_request_method="POST",http_route="/api/v1/calculations",server_address="10.0.0.5",server_port="8080""#;
pub const ACTIVE: f64 = 2.0;
pub const OLDEST: f64 = 1500.0;
pub const LIMIT: f64 = 2400.0;
pub const ABANDONED_PER_STEP: f64 = 1.0;
pub const OVERFLOW_PER_STEP: f64 = 5.0;

/// The OpenMetrics text of the traffic, samples at `end - STEPS*STEP .. end`.
pub fn openmetrics(end: u64) -> String {
    let mut families: BTreeMap<String, (&str, Vec<String>)> = BTreeMap::new();
    let mut add = |family: &str, kind: &'static str, line: String| {
        families
            .entry(family.to_string())
            .or_insert((kind, Vec::new()))
            .1
            .push(line);
    };
    for i in 0..=STEPS {
        let t = end - (STEPS - i) * STEP;
        let k = (i + 1) as f64;
        for tr in TRAFFIC {
            let labels = format!(
                r#"{AGENT},service_name="{}",http_request_method="{}",http_route="{}",http_response_status_code="{}",server_address="10.0.0.5",server_port="8080""#,
                tr.service, tr.method, tr.route, tr.status
            );
            let c = tr.n * k;
            let mut hist = |family: String, bounds: &[f64], v: f64| {
                for le in bounds {
                    let b = if v <= *le { c } else { 0.0 };
                    add(
                        &family,
                        "histogram",
                        format!("{family}_bucket{{{labels},le=\"{le}\"}} {b} {t}"),
                    );
                }
                add(
                    &family,
                    "histogram",
                    format!("{family}_bucket{{{labels},le=\"+Inf\"}} {c} {t}"),
                );
                add(
                    &family,
                    "histogram",
                    format!("{family}_count{{{labels}}} {c} {t}"),
                );
                add(
                    &family,
                    "histogram",
                    format!("{family}_sum{{{labels}}} {} {t}", c * v),
                );
            };
            for side in ["server", "client"] {
                hist(
                    format!("http_{side}_request_duration_seconds"),
                    DURATION,
                    tr.duration,
                );
            }
            for which in ["request", "response"] {
                hist(
                    format!("http_server_{which}_body_size_bytes"),
                    SIZE,
                    tr.size,
                );
            }
        }
        for (family, kind, labels, v) in [
            (
                "http_server_active_requests",
                "gauge",
                CALC.to_string(),
                ACTIVE,
            ),
            (
                "http_client_active_requests",
                "gauge",
                CALC.to_string(),
                ACTIVE / 2.0,
            ),
            (
                "dozor_http_server_oldest_active_age_seconds",
                "gauge",
                CALC.to_string(),
                OLDEST,
            ),
            (
                "dozor_http_client_oldest_active_age_seconds",
                "gauge",
                CALC.to_string(),
                OLDEST,
            ),
            (
                "dozor_http_route_limit_seconds",
                "gauge",
                r#"service_name="mes-api",http_route="/api/v1/calculations""#.into(),
                LIMIT,
            ),
            (
                "dozor_http_server_abandoned",
                "counter",
                CALC.to_string(),
                ABANDONED_PER_STEP * k,
            ),
            (
                "dozor_http_client_abandoned",
                "counter",
                CALC.to_string(),
                ABANDONED_PER_STEP * k,
            ),
            (
                "dozor_http_overflow_series",
                "counter",
                r#"service_name="mes-api""#.into(),
                OVERFLOW_PER_STEP * k,
            ),
            ("target_info", "gauge", String::new(), 1.0),
        ] {
            let name = if kind == "counter" {
                format!("{family}_total")
            } else {
                family.to_string()
            };
            let sep = if labels.is_empty() { "" } else { "," };
            add(
                family,
                kind,
                format!("{name}{{{AGENT}{sep}{labels}}} {v} {t}"),
            );
        }
    }
    let mut out = String::new();
    for (family, (kind, lines)) in &families {
        writeln!(out, "# TYPE {family} {kind}").unwrap();
        // OpenMetrics wants each series' samples together, in time order.
        let mut sorted = lines.clone();
        sorted.sort_by_key(|l| {
            l.rsplit_once(' ')
                .map(|(s, _)| s.rsplit_once(' ').unwrap().0.to_string())
        });
        for l in sorted {
            writeln!(out, "{l}").unwrap();
        }
    }
    out + "# EOF\n"
}

/// histogram_quantile's definition: linear inside the bucket holding the rank, from 0 below the
/// first bound; the highest finite bound when the rank is in +Inf.
pub fn quantile(q: f64, bounds: &[f64], obs: &[(f64, f64)]) -> f64 {
    let total: f64 = obs.iter().map(|o| o.1).sum();
    let rank = q * total;
    let (mut lo, mut below) = (0.0, 0.0);
    for &le in bounds {
        let cum: f64 = obs.iter().filter(|o| o.0 <= le).map(|o| o.1).sum();
        if cum >= rank && cum > 0.0 {
            return lo + (le - lo) * (rank - below) / (cum - below);
        }
        (lo, below) = (le, cum);
    }
    lo
}
