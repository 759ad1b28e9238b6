//! `dozor-agent collect --once`: run every enabled integration once and print what it found,
//! in Prometheus text with exactly the names and labels the collector exposes, or as JSON.
//! `dozor-agent check NAME`: the same for one integration, with its timing and verdict, also
//! as a table.

use crate::integrations::Scheduled;
use crate::scheduler::{ScrapeStats, collect_once};
use dozor_metrics::exposition::{self, Format};
use dozor_metrics::sample::{Recorder, Sample, ScopeBatch, to_request};
use dozor_metrics::time::now_nanos;
use dozor_metrics::translate;
use std::time::{Duration, Instant};

/// Output format of `collect --once`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum OutputFormat {
    /// Prometheus text exposition, as the collector serves it.
    Prometheus,
    /// One JSON object per data point, with OpenTelemetry names and attributes.
    Json,
}

/// Output format of `check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    /// One row per data point: metric, attributes, value (the default on a terminal).
    Table,
    /// Prometheus text exposition, as the collector serves it, the verdict as a comment.
    Prometheus,
    /// One JSON document: verdict, timing, error and fix, data points.
    Json,
}

/// Pause between the two readings of integrations that report differences (CPU utilization).
const SECOND_SAMPLE_AFTER: Duration = Duration::from_millis(500);

/// Runs each integration once (twice, `SECOND_SAMPLE_AFTER` apart, when it needs two readings)
/// and returns the text to print and whether any integration failed.
pub fn collect(
    scheduled: Vec<Scheduled>,
    resource: &[(String, String)],
    promote: &[String],
    format: OutputFormat,
) -> (String, bool) {
    let mut batches = Vec::new();
    let mut failed = false;
    for mut s in scheduled {
        let name = s.integration.name().to_string();
        let name = name.as_str();
        if s.integration.needs_two_samples() {
            let _ = collect_once(s.integration.as_mut(), &mut Recorder::new());
            std::thread::sleep(SECOND_SAMPLE_AFTER);
        }
        let mut rec = Recorder::new();
        let started = Instant::now();
        let result = collect_once(s.integration.as_mut(), &mut rec);
        let mut agent_rec = Recorder::new();
        let error = result.as_ref().err().map(|e| e.kind);
        if let Err(e) = &result {
            eprintln!("integration {name}: {e}");
            failed = true;
        }
        ScrapeStats::default().record(&mut agent_rec, name, Some(started.elapsed()), error);
        batches.push(ScopeBatch {
            scope: format!("dozor.integration.{name}"),
            time_unix_nano: now_nanos(),
            samples: rec.take(),
        });
        batches.push(ScopeBatch {
            scope: "dozor.agent".into(),
            time_unix_nano: now_nanos(),
            samples: agent_rec.take(),
        });
    }
    let out = match format {
        OutputFormat::Prometheus => prometheus(resource, &batches, promote),
        OutputFormat::Json => json(&batches),
    };
    (out, failed)
}

fn prometheus(resource: &[(String, String)], batches: &[ScopeBatch], promote: &[String]) -> String {
    let request = to_request(resource, batches, now_nanos());
    let mut points = Vec::new();
    let opts = translate::Options {
        promote: promote.to_vec(),
    };
    for rm in &request.resource_metrics {
        translate::translate(rm, &opts, &mut points);
    }
    let mut out = String::new();
    exposition::encode(&translate::into_families(points), Format::Text, &mut out);
    out
}

fn json(batches: &[ScopeBatch]) -> String {
    let mut out = String::new();
    for s in batches.iter().flat_map(|b| &b.samples) {
        out.push_str(&sample_json(s).to_string());
        out.push('\n');
    }
    out
}

fn sample_json(s: &Sample) -> serde_json::Value {
    let attributes: serde_json::Map<String, serde_json::Value> = s
        .attributes
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::json!({
        "name": s.metric.name,
        "unit": s.metric.unit,
        "instrument": s.metric.instrument.as_str(),
        "attributes": attributes,
        "value": s.value,
    })
}

/// One integration's run in `check`: its samples, result and timing.
struct Checked {
    name: String,
    samples: Vec<Sample>,
    duration: Duration,
    /// Error class, message and fix.
    error: Option<(String, String, String)>,
}

impl Checked {
    fn verdict(&self) -> String {
        let ms = self.duration.as_secs_f64() * 1000.0;
        match &self.error {
            None => format!(
                "OK: {} ran in {ms:.1} ms and read {} data points",
                self.name,
                self.samples.len()
            ),
            Some((kind, message, fix)) => format!(
                "ERROR: {} failed after {ms:.1} ms ({kind}): {message}. Fix: {fix}",
                self.name
            ),
        }
    }
}

/// Runs `s` once (twice when it needs two readings) on a thread of its own, giving up after
/// its timeout: a hung source does not hang `check`.
fn check_one(mut s: Scheduled) -> Checked {
    let name = s.integration.name().to_string();
    let timeout = s.timeout;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if s.integration.needs_two_samples() {
            let _ = collect_once(s.integration.as_mut(), &mut Recorder::new());
            std::thread::sleep(SECOND_SAMPLE_AFTER);
        }
        let mut rec = Recorder::new();
        let started = Instant::now();
        let result = collect_once(s.integration.as_mut(), &mut rec);
        let _ = tx.send((rec.take(), started.elapsed(), result));
    });
    match rx.recv_timeout(timeout + SECOND_SAMPLE_AFTER) {
        Ok((samples, duration, result)) => {
            let error = result.err().map(|e| {
                let fix = crate::admin::attention::integration_fix(&name, e.kind, &e.message);
                (e.kind.to_string(), e.message, fix)
            });
            Checked {
                name,
                samples,
                duration,
                error,
            }
        }
        Err(_) => {
            let fix = crate::admin::attention::integration_fix(&name, "timeout", "");
            Checked {
                error: Some((
                    "timeout".into(),
                    format!("no answer within its timeout of {timeout:?}"),
                    fix,
                )),
                name,
                samples: Vec::new(),
                duration: timeout,
            }
        }
    }
}

/// `dozor-agent check NAME`: runs the integrations named `name` (or of section `name`) once and
/// prints them in `format`; returns the exit code (0 ok, 1 failed, 2 no such integration).
pub fn check(
    scheduled: Vec<Scheduled>,
    name: &str,
    resource: &[(String, String)],
    promote: &[String],
    format: CheckFormat,
) -> u8 {
    let names: Vec<String> = scheduled
        .iter()
        .map(|s| s.integration.name().to_string())
        .collect();
    let chosen: Vec<Scheduled> = scheduled
        .into_iter()
        .filter(|s| {
            let n = s.integration.name();
            n == name || n.split('/').next() == Some(name)
        })
        .collect();
    if chosen.is_empty() {
        eprintln!(
            "dozor-agent check: no integration named {name:?} is configured and enabled; configured: {}",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        );
        return 2;
    }
    let results: Vec<Checked> = chosen.into_iter().map(check_one).collect();
    let failed = results.iter().any(|c| c.error.is_some());
    let out = match format {
        CheckFormat::Table => results.iter().map(table).collect::<String>(),
        CheckFormat::Prometheus => {
            let mut out = String::new();
            let mut batches = Vec::new();
            for c in &results {
                out.push_str(&format!("# {}\n", c.verdict()));
                let mut agent_rec = Recorder::new();
                let kind = c.error.as_ref().map(|e| kind_label(&e.0));
                ScrapeStats::default().record(&mut agent_rec, &c.name, Some(c.duration), kind);
                batches.push(ScopeBatch {
                    scope: format!("dozor.integration.{}", c.name),
                    time_unix_nano: now_nanos(),
                    samples: c.samples.clone(),
                });
                batches.push(ScopeBatch {
                    scope: "dozor.agent".into(),
                    time_unix_nano: now_nanos(),
                    samples: agent_rec.take(),
                });
            }
            out.push_str(&prometheus(resource, &batches, promote));
            out
        }
        CheckFormat::Json => {
            let docs: Vec<serde_json::Value> = results
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "integration": c.name,
                        "result": if c.error.is_some() { "error" } else { "ok" },
                        "verdict": c.verdict(),
                        "duration_ms": c.duration.as_secs_f64() * 1000.0,
                        "error_type": c.error.as_ref().map(|e| &e.0),
                        "error": c.error.as_ref().map(|e| &e.1),
                        "fix": c.error.as_ref().map(|e| &e.2),
                        "points": c.samples.iter().map(sample_json).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let doc = match docs.len() {
                1 => docs.into_iter().next().unwrap_or_default(),
                _ => serde_json::Value::Array(docs),
            };
            format!("{doc:#}\n")
        }
    };
    print!("{out}");
    u8::from(failed)
}

/// The `error.type` labels are a bounded set of static words.
fn kind_label(kind: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "timeout",
        "connect",
        "auth",
        "permission",
        "config",
        "query",
        "io",
        "parse",
        "panic",
    ];
    KNOWN
        .iter()
        .find(|k| **k == kind)
        .copied()
        .unwrap_or("other")
}

/// One integration as text: the verdict, then metric, attributes and value per data point.
fn table(c: &Checked) -> String {
    let mut rows: Vec<[String; 3]> = vec![["METRIC".into(), "ATTRIBUTES".into(), "VALUE".into()]];
    for s in &c.samples {
        let attributes: Vec<String> = s
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        rows.push([
            s.metric.name.to_string(),
            attributes.join(" "),
            format!("{}", s.value),
        ]);
    }
    let w0 = rows.iter().map(|r| r[0].len()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r[1].len()).max().unwrap_or(0);
    let mut out = format!("{}\n", c.verdict());
    for r in rows {
        out.push_str(format!("  {:<w0$}  {:<w1$}  {}\n", r[0], r[1], r[2]).trim_end());
        out.push('\n');
    }
    out
}
