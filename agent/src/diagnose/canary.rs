//! `canary`: the whole path, end to end. A series of its own, `dozor_canary{canary_id="<random>"}`
//! with a random value, is sent through the agent's export transport (its protocol, TLS, token
//! and identity) to the first endpoint that takes it, then read back from the collector's
//! `/metrics` (`diagnose.collector_metrics_url`, else port 9464 of the first endpoint's host)
//! and, when `diagnose.prometheus_url` is set, from Prometheus, polling until the value is there
//! or the budget is spent.
//!
//! Each run adds one series to the collector (its id is new each time); it goes stale like any
//! series that stops being sent.

use super::collector::{file, http_client, metrics_url, transport};
use super::report::Outcome;
use super::{Check, Ctx, Waiting};
use dozor_metrics::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use dozor_metrics::otlp::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use dozor_metrics::otlp::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use dozor_metrics::otlp::resource::v1::Resource;
use prost::Message;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The canary's OTLP name; Prometheus sees `dozor_canary`.
const NAME: &str = "dozor.canary";
/// Its Prometheus name.
const PROM_NAME: &str = "dozor_canary";
/// Between reads of `/metrics` or Prometheus.
const POLL: Duration = Duration::from_millis(250);

/// The check, given all of `budget` but the time to print.
pub fn check(ctx: &Arc<Ctx>, budget: Duration) -> Check {
    let ctx = ctx.clone();
    // Its own deadline ends before the budget's, so that a canary that never shows up is a
    // failure naming where it went missing, not a bare timeout.
    let own = budget.saturating_sub(Duration::from_millis(1500));
    Check::new("canary", budget, move |w| async move {
        if !ctx.config.exporters.otlp.enabled {
            return Outcome::skip("exporters.otlp.enabled is false: nothing is sent");
        }
        run(ctx, Instant::now() + own, w).await
    })
}

async fn run(ctx: Arc<Ctx>, deadline: Instant, w: Waiting) -> Outcome {
    let id = format!("{:016x}", rand::random::<u64>());
    let value = f64::from(rand::random::<u32>() % 1_000_000 + 1);
    let series = format!("{PROM_NAME}{{canary_id=\"{id}\"}}");
    let request = request(&ctx.resource, &id, value);
    let sent = Instant::now();
    let mut errors = Vec::new();
    let mut via = None;
    for endpoint in &ctx.config.exporters.otlp.endpoints {
        w.on(format!(
            "the collector's answer to the canary at {endpoint}"
        ));
        let (t, _) = match transport(&ctx, endpoint) {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("{endpoint}: {e:#}"));
                continue;
            }
        };
        let body = t.body(request.encode_to_vec());
        match t.send(0, &body, None).await {
            Ok(_) => {
                via = Some(endpoint.clone());
                break;
            }
            Err(f) => errors.push(format!("{endpoint}: {f}")),
        }
    }
    let Some(via) = via else {
        return Outcome::fail(
            format!(
                "no endpoint took the canary {series}: {}",
                errors.join("; ")
            ),
            "fix the collector checks above first",
        );
    };
    let Some(url) = metrics_url(&ctx) else {
        return Outcome::skip("no collector /metrics to read back from");
    };
    let client = http_client();
    w.on(format!("{series} to appear in {url}"));
    let in_collector = loop {
        match read_collector(&client, &url, &id).await {
            Ok(Some(v)) => break v,
            Ok(None) => {}
            Err(e) if Instant::now() + POLL >= deadline => {
                return Outcome::fail(
                    format!("{series} = {value} was sent to {via}, but {url} cannot be read: {e}"),
                    format!(
                        "set diagnose.collector_metrics_url in {} to the collector's /metrics (exporters.prometheus.endpoint of the collector)",
                        file(&ctx)
                    ),
                );
            }
            Err(_) => {}
        }
        if Instant::now() + POLL >= deadline {
            return Outcome::fail(
                format!(
                    "{series} = {value} was accepted by {via} but is not in {url} after {:.1} s",
                    sent.elapsed().as_secs_f64()
                ),
                "check that diagnose.collector_metrics_url is the /metrics of the collector the endpoint reaches (a load balancer may spread agents over several), and the collector's log for dropped series (limits.per_agent.max_series)",
            );
        }
        tokio::time::sleep(POLL).await;
    };
    if in_collector != value {
        return Outcome::fail(
            format!("{series}: sent {value}, the collector shows {in_collector}"),
            "report this as a bug, with the flare",
        );
    }
    let collector_secs = sent.elapsed().as_secs_f64();
    let Some(prometheus) = ctx.config.diagnose.prometheus_url.clone() else {
        return Outcome::pass(format!(
            "{series} = {value} sent to {via}, read back from {url} after {collector_secs:.1} s (set diagnose.prometheus_url to follow it into Prometheus)"
        ));
    };
    let query = format!("{}/api/v1/query", prometheus.trim_end_matches('/'));
    w.on(format!("{series} to appear in Prometheus at {prometheus}"));
    loop {
        if let Ok(Some(v)) = read_prometheus(&client, &query, &series).await
            && v == value
        {
            return Outcome::pass(format!(
                "{series} = {value} sent to {via}, read back from {url} after {collector_secs:.1} s and from Prometheus after {:.1} s",
                sent.elapsed().as_secs_f64()
            ));
        }
        if Instant::now() + POLL >= deadline {
            return Outcome::fail(
                format!(
                    "{series} = {value} is in the collector's {url} but not in Prometheus at {prometheus} after {:.1} s",
                    sent.elapsed().as_secs_f64()
                ),
                format!(
                    "make Prometheus scrape {url} (a scrape_configs job with that target; a scrape_interval well under the diagnose budget), then check its Status > Targets page"
                ),
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The canary request: the agent's resource, one gauge point.
fn request(resource: &[(String, String)], id: &str, value: f64) -> ExportMetricsServiceRequest {
    let kv = |k: &str, v: &str| KeyValue {
        key: k.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_string())),
        }),
        ..Default::default()
    };
    let point = NumberDataPoint {
        attributes: vec![kv("canary_id", id)],
        time_unix_nano: dozor_metrics::time::now_nanos(),
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource.iter().map(|(k, v)| kv(k, v)).collect(),
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "dozor-agent/diagnose".into(),
                    ..Default::default()
                }),
                metrics: vec![Metric {
                    name: NAME.into(),
                    description: "diagnose's canary: a series of its own, read back end to end"
                        .into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: vec![point],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The canary's value in the collector's exposition, if there.
async fn read_collector(
    client: &reqwest::Client,
    url: &str,
    id: &str,
) -> Result<Option<f64>, String> {
    let text = client
        .get(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    Ok(find(&text, id))
}

/// The value of the `dozor_canary` line with `canary_id="<id>"` in an exposition.
fn find(exposition: &str, id: &str) -> Option<f64> {
    let label = format!("canary_id=\"{id}\"");
    exposition
        .lines()
        .filter(|l| {
            l.starts_with(PROM_NAME) && l[PROM_NAME.len()..].starts_with('{') && l.contains(&label)
        })
        .find_map(|l| {
            l.rsplit_once('}')?
                .1
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
}

/// The canary's value in Prometheus, if there.
async fn read_prometheus(
    client: &reqwest::Client,
    query: &str,
    series: &str,
) -> Result<Option<f64>, String> {
    let url =
        url::Url::parse_with_params(query, &[("query", series)]).map_err(|e| e.to_string())?;
    let text = client
        .get(url)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let body: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    Ok(body["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_canary_by_its_id() {
        let text = "# TYPE dozor_canary gauge\n\
                    dozor_canary{canary_id=\"aa\",instance=\"x\"} 12\n\
                    dozor_canary{canary_id=\"bb\",instance=\"x\"} 34 1700000000000\n\
                    dozor_canary_other{canary_id=\"cc\"} 5\n";
        assert_eq!(find(text, "aa"), Some(12.0));
        assert_eq!(find(text, "bb"), Some(34.0));
        assert_eq!(find(text, "cc"), None);
        assert_eq!(find(text, "zz"), None);
    }
}
