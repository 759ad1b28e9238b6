//! The services dashboard (`dashboards/grafana/services.json`) against a real Prometheus holding
//! HTTP RED series the test made: 75 minutes of known traffic per route (requests per 15 s,
//! status, duration, body size), written as OpenMetrics, loaded with `promtool tsdb
//! create-blocks-from openmetrics`, with `alerts/http.rules.yml` loaded for the recording rules.
//! Every query of the dashboard must run, return data, and show what the traffic implies: rates,
//! error shares, percentiles (interpolated inside their bucket, as histogram_quantile defines
//! them), heatmap buckets, in-flight figures, the tables and the burn rate. There is no Grafana
//! here: variables are replaced as Grafana does for "All".

use dozor_testkit::{Prometheus, http_get, url_encode, wait_for};
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use traffic::*;

#[path = "services_dashboard/traffic.rs"]
mod traffic;

/// What a query of the dashboard must show, computed from `TRAFFIC` alone.
#[derive(Clone, Copy)]
enum Want {
    /// Requests per second of the matching traffic whose status starts with the prefix.
    Rate(&'static str),
    /// Requests with a status starting with the char, over all, of the matching traffic.
    Share(char),
    /// The quantile of the durations (or body sizes) of the matching traffic.
    Quantile(f64, bool),
    /// Requests per minute at or under the series' `le`.
    Heatmap,
    /// Requests in the last hour.
    Hour,
    /// Body bytes per second.
    Bytes,
    /// The 5xx share over the error budget of the default objective (0.995).
    Burn,
    /// A fixed figure of the in-flight series (per series).
    Value(f64),
}

/// Every panel query of the dashboard (title, refId): what it shows and how many series.
#[rustfmt::skip]
const PANELS: &[(&str, &str, Want, usize)] = &[
    ("Requests per second", "A", Want::Rate(""), 2),
    ("Errors: share of requests answered 5xx", "A", Want::Share('5'), 2),
    ("Client errors: share of requests answered 4xx", "A", Want::Share('4'), 1),
    ("Duration p50, p95, p99", "A", Want::Quantile(0.5, false), 2),
    ("Duration p50, p95, p99", "B", Want::Quantile(0.95, false), 2),
    ("Duration p50, p95, p99", "C", Want::Quantile(0.99, false), 2),
    ("Error budget burn rate (1 h and 6 h)", "A", Want::Burn, 2),
    ("Error budget burn rate (1 h and 6 h)", "B", Want::Burn, 2),
    ("Responses per second by status code", "A", Want::Rate(""), 4),
    ("Requests per second by route", "A", Want::Rate(""), 6),
    ("5xx share by route", "A", Want::Share('5'), 2),
    ("p95 by route", "A", Want::Quantile(0.95, false), 6),
    ("p99 by route", "A", Want::Quantile(0.99, false), 6),
    ("4xx share by route", "A", Want::Share('4'), 1),
    ("Duration heatmap", "A", Want::Heatmap, DURATION.len() + 1),
    ("Requests in flight by route", "A", Want::Value(ACTIVE), 1),
    ("Oldest request in flight by route, and the route's limit", "A", Want::Value(OLDEST), 1),
    ("Oldest request in flight by route, and the route's limit", "B", Want::Value(LIMIT), 1),
    ("Abandoned requests per interval", "A", Want::Value(ABANDONED_PER_STEP * 4.0), 1),
    ("Slowest routes by p95 over the time range", "A", Want::Quantile(0.95, false), 6),
    ("Slowest routes by p95 over the time range", "B", Want::Quantile(0.99, false), 6),
    ("Slowest routes by p95 over the time range", "C", Want::Hour, 6),
    ("Oldest requests in flight now", "A", Want::Value(OLDEST), 1),
    ("Oldest requests in flight now", "B", Want::Value(ACTIVE), 1),
    ("Client requests per second by route", "A", Want::Rate(""), 6),
    ("Client 5xx share by route", "A", Want::Share('5'), 2),
    ("Client p95 by route", "A", Want::Quantile(0.95, false), 6),
    ("Client requests in flight and the oldest", "A", Want::Value(ACTIVE / 2.0), 1),
    ("Client requests in flight and the oldest", "B", Want::Value(OLDEST), 1),
    ("Client requests abandoned per interval", "A", Want::Value(ABANDONED_PER_STEP * 4.0), 1),
    ("Request body p95 by route", "A", Want::Quantile(0.95, true), 6),
    ("Response body p95 by route", "A", Want::Quantile(0.95, true), 6),
    ("Body bytes per second", "A", Want::Bytes, 2),
    ("Body bytes per second", "B", Want::Bytes, 2),
    ("Requests folded into route _other per interval", "A", Want::Value(OVERFLOW_PER_STEP * 4.0), 1),
    ("Share of requests on route _other", "A", Want::Share('_'), 1),
];

/// The traffic a result series stands for: every entry its route labels match.
fn matching(metric: &Value) -> Vec<&'static Traffic> {
    TRAFFIC
        .iter()
        .filter(|t| {
            [
                ("service_name", t.service),
                ("http_request_method", t.method),
                ("http_route", t.route),
                ("http_response_status_code", t.status),
            ]
            .iter()
            .all(|(l, v)| metric.get(*l).is_none_or(|m| m == *v))
        })
        .collect()
}

fn expected(want: Want, metric: &Value) -> f64 {
    let m = matching(metric);
    let n = |f: &dyn Fn(&Traffic) -> bool| m.iter().filter(|t| f(t)).map(|t| t.n).sum::<f64>();
    let share = |c: char| {
        let hit = |t: &Traffic| t.status.starts_with(c) || (c == '_' && t.route == "_other");
        n(&hit) / n(&|_| true)
    };
    match want {
        Want::Rate(prefix) => n(&|t| t.status.starts_with(prefix)) / STEP as f64,
        Want::Share(c) => share(c),
        Want::Quantile(q, size) => {
            let obs: Vec<_> = m
                .iter()
                .map(|t| (if size { t.size } else { t.duration }, t.n))
                .collect();
            quantile(q, if size { SIZE } else { DURATION }, &obs)
        }
        Want::Heatmap => {
            let le = metric["le"].as_str().unwrap();
            let le: f64 = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            n(&|t| t.duration <= le) * 60.0 / STEP as f64
        }
        Want::Hour => n(&|_| true) * 3600.0 / STEP as f64,
        Want::Bytes => m.iter().map(|t| t.n * t.size).sum::<f64>() / STEP as f64,
        Want::Burn => share('5') / (1.0 - 0.995),
        Want::Value(v) => v,
    }
}

fn query_at(prom: &str, expr: &str, time: Option<u64>) -> Value {
    let at = time.map(|t| format!("&time={t}")).unwrap_or_default();
    let (_, body) = http_get(
        prom,
        &format!("/api/v1/query?query={}{at}", url_encode(expr)),
    )
    .expect("querying Prometheus");
    serde_json::from_str(&body).unwrap()
}

fn substitute(expr: &str) -> String {
    [
        ("$__rate_interval", "1m"),
        ("$__range", "1h"),
        ("$site", ".*"),
        ("$instance", ".*"),
        ("$service", ".*"),
        ("$route", ".*"),
    ]
    .iter()
    .fold(expr.to_string(), |e, (var, all)| e.replace(var, all))
}

#[test]
fn every_services_dashboard_query_shows_the_traffic_it_was_given() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let end = now / STEP * STEP;
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../alerts/http.rules.yml");
    let prometheus = Prometheus::with_history(d, &openmetrics(end), &[&rules]);
    let prom = &prometheus.addr;

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../dashboards/grafana/services.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut seen = Vec::new();
    let mut failures = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let (title, refid) = (
                panel["title"].as_str().unwrap(),
                target["refId"].as_str().unwrap(),
            );
            let Some(&(_, _, want, count)) = PANELS.iter().find(|p| p.0 == title && p.1 == refid)
            else {
                failures.push(format!(
                    "{title} / {refid}: not checked by this test; add it to PANELS"
                ));
                continue;
            };
            seen.push((title, refid));
            let expr = substitute(target["expr"].as_str().unwrap());
            // The burn rate reads recording rules, evaluated live on the loaded data.
            let time = (!matches!(want, Want::Burn)).then_some(end);
            let result = wait_for(Duration::from_secs(30), || {
                let v = query_at(prom, &expr, time);
                let r = v["data"]["result"].as_array().cloned().unwrap_or_default();
                (v["status"] != "success" || !r.is_empty()).then_some(v)
            });
            let Some(v) = result.clone().filter(|v| v["status"] == "success") else {
                failures.push(format!(
                    "{title} / {refid}: {expr}: failed or returned nothing: {result:?}"
                ));
                continue;
            };
            let series = v["data"]["result"].as_array().unwrap();
            if series.len() != count {
                failures.push(format!(
                    "{title} / {refid}: {} series, want {count}: {series:?}",
                    series.len()
                ));
            }
            for s in series {
                let got: f64 = s["value"][1].as_str().unwrap().parse().unwrap();
                let want = expected(want, &s["metric"]);
                if (got - want).abs() > 1e-9 * want.abs().max(1.0) {
                    failures.push(format!(
                        "{title} / {refid}: {} = {got}, want {want}",
                        s["metric"]
                    ));
                }
            }
        }
    }
    for (title, refid, _, _) in PANELS {
        if !seen.contains(&(title, refid)) {
            failures.push(format!("{title} / {refid}: no such query in the dashboard"));
        }
    }
    // The variables list what the traffic has.
    for (var, label, want) in [
        ("service", "service_name", vec!["mes-api", "shop"]),
        (
            "route",
            "http_route",
            vec![
                "/",
                "/api/v1/calculations",
                "/api/v1/orders",
                "/api/v1/orders/{id}",
                "/checkout",
                "_other",
            ],
        ),
    ] {
        let q = dashboard["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == var)
            .unwrap()["query"]
            .as_str()
            .unwrap();
        let selector = q
            .strip_prefix("label_values(")
            .and_then(|r| r.rsplit_once(','))
            .unwrap()
            .0;
        let v = query_at(prom, &substitute(selector), Some(end));
        let mut got: Vec<&str> = v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["metric"][label].as_str().unwrap())
            .collect();
        got.sort();
        got.dedup();
        if got != want {
            failures.push(format!("variable ${var}: {got:?}, want {want:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "services.json against the traffic:\n{}",
        failures.join("\n")
    );
}
