//! `dozor-agent collect --once`: run every enabled integration once and print what it found,
//! in Prometheus text with exactly the names and labels the collector exposes, or as JSON.

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
