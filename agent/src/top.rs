//! `dozor-agent top`: per integration, the rates since `top` started (runs, points, errors:
//! whichever counters the agent's `GET /v1/status` carries), last result and duration; the
//! buffer, export state per endpoint and drops. Drawn by `dozor_top`, like the collector's.
//!
//! Reads the document leniently (`serde_json::Value`): the schema belongs to the admin
//! endpoint (docs/admin.md); a field it lacks shows as `-`. The endpoint and token are found
//! as for `status` (`admin::client`).

use dozor_top::rates::cell;
use dozor_top::{Model, Rates, Table};
use serde_json::Value;
use std::time::Duration;

/// `top`'s flags (the endpoint comes from the global `--admin` and `--admin-token-file`, else
/// the configuration's `admin` section).
#[derive(Debug, clap::Args)]
pub struct TopArgs {
    /// Refresh interval.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = dozor_top::duration)]
    interval: Duration,
    /// Show only integrations whose name contains this text.
    #[arg(long, value_name = "TEXT", default_value = "")]
    filter: String,
    /// Total time allowed for one request to the endpoint.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = dozor_top::duration)]
    timeout: Duration,
}

/// Runs the live view; the exit code (0 quit, 2 bad endpoint or token file, 1 no terminal).
pub fn run(
    args: TopArgs,
    (admin, token_file): &(Option<String>, Option<std::path::PathBuf>),
    config: &crate::config::Config,
) -> u8 {
    use crate::admin::client::Client;
    let client = match Client::from_config(
        admin.as_deref(),
        token_file.as_deref(),
        &config.admin,
        args.timeout,
    ) {
        Ok(c) => c,
        Err(e) => {
            println!("CONFIG ERROR: {e}");
            return 2;
        }
    };
    let mut rates = Rates::new();
    let mut since = None;
    let address = client.url().to_string();
    let result = dozor_top::terminal::run(args.interval, args.filter, || {
        let body = match client.get("/v1/status").map_err(|e| e.to_string())? {
            (200, body) => body,
            (status, body) => return Err(format!("HTTP {status}: {}", body.trim())),
        };
        let s: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        let at = s["uptime_seconds"].as_f64().unwrap_or(0.0);
        let since = *since.get_or_insert(at);
        Ok(model(&s, &mut rates, at - since, &address))
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("dozor-agent top: {e}");
            1
        }
    }
}

/// Counters of an integration shown as rates, when the status carries them.
const INTEGRATION_COUNTERS: [&str; 4] = ["runs", "points", "errors", "timeouts"];

/// One screen from one status document; `window` is the seconds since `top`'s first sample.
pub fn model(s: &Value, rates: &mut Rates, window: f64, address: &str) -> Model {
    let at = s["uptime_seconds"].as_f64().unwrap_or(0.0);
    let text = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    let mut rows = Vec::new();
    for i in s["integrations"].as_array().into_iter().flatten() {
        let name = text(&i["name"]);
        let mut row = vec![name.clone(), text(&i["result"]), text(&i["duration_ms"])];
        for c in INTEGRATION_COUNTERS {
            row.push(match i[c].as_f64() {
                Some(v) => cell(rates.per_second(&format!("{name}\0{c}"), v, at)),
                None => "-".into(),
            });
        }
        row.push(text(&i["error"]));
        rows.push(row);
    }
    let counters: Vec<String> = s["counters"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k, v.as_f64()?)))
        .map(|(k, v)| format!("{k}/s {}", cell(rates.per_second(&format!("\0{k}"), v, at))))
        .collect();
    let buffer: Vec<String> = s["buffer"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(signal, b)| {
            format!(
                "{signal}: {} points, {} bytes of {}, oldest {}s",
                text(&b["points"]),
                text(&b["bytes"]),
                text(&b["limit_bytes"]),
                text(&b["oldest_age_seconds"])
            )
        })
        .collect();
    let export: Vec<String> = s["export"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "{} connected={} breaker={} last_error={}",
                text(&e["endpoint"]),
                text(&e["connected"]),
                text(&e["breaker"]),
                text(&e["last_error"])
            )
        })
        .collect();
    let drops: Vec<String> = s["drops"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", text(v)))
        .collect();
    let mut lines = vec![
        counters.join("   "),
        format!("buffer: {}", buffer.join("; ")),
        format!("export: {}", export.join("; ")),
        format!("drops: {}", drops.join(" ")),
    ];
    if let Some(a) = s["attention"].as_array().and_then(|a| a.first()) {
        lines.push(format!("attention: {}", text(&a["problem"])));
    }
    let mut header = vec!["INTEGRATION".to_string(), "RESULT".into(), "MS".into()];
    header.extend(
        INTEGRATION_COUNTERS
            .iter()
            .map(|c| format!("{}/S", c.to_uppercase())),
    );
    header.push("ERROR".into());
    Model {
        title: format!(
            "dozor-agent {} at {address}   up {:.0}s   rates over the last {window:.0}s (since top started)",
            text(&s["version"]),
            at
        ),
        lines,
        tables: vec![Table {
            title: " integrations ".into(),
            header,
            rows,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_per_integration_from_the_contract_fields() {
        let doc = |up: f64, points: f64| {
            serde_json::json!({
                "version": "0.1.0", "uptime_seconds": up,
                "integrations": [{"name": "host", "result": "ok", "duration_ms": 3, "points": points}],
                "counters": {"points_sent": points},
                "buffer": {"metrics": {"points": 0, "bytes": 0, "limit_bytes": 10, "oldest_age_seconds": 0}},
            })
        };
        let mut rates = Rates::new();
        let m = model(&doc(100.0, 1000.0), &mut rates, 0.0, "a");
        assert_eq!(m.tables[0].rows[0][4], "-");
        let m = model(&doc(110.0, 1250.0), &mut rates, 10.0, "a");
        assert_eq!(m.tables[0].rows[0][..5], ["host", "ok", "3", "-", "25.0"]);
        assert!(m.lines[0].contains("points_sent/s 25.0"), "{:?}", m.lines);
    }
}
