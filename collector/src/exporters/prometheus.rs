//! Prometheus pull endpoint: `GET /metrics` with every stored series and the collector's own
//! metrics, `GET /-/healthy`, and `GET /` listing both.
//!
//! The format follows the scraper's `Accept` header (OpenMetrics 1.0 when asked for, else text
//! 0.0.4), and the body is gzip-compressed when `Accept-Encoding` allows it, as Prometheus does.
//! A scrape first expires stale series, so a series is never exposed past `series_ttl`.

use crate::receivers::Pipeline;
use crate::telemetry::events::SeriesExpired;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use dozor_metrics::exposition::{Family, Format, encode_family};
use flate2::Compression;
use flate2::write::GzEncoder;
use http::{HeaderMap, StatusCode, header};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const INDEX: &str = "dozor-collector\n\n\
    GET /metrics     every series received from agents and the collector's own metrics\n\
    GET /-/healthy   200 while the collector runs\n\n\
    OTLP receivers: gRPC (default :4317) and HTTP POST /v1/metrics and /v1/logs (default :4318).\n";

#[derive(Clone, Debug)]
struct Exporter {
    pipeline: Pipeline,
    /// Write OpenMetrics `_created` samples (`exporters.prometheus.created_samples`).
    created: bool,
    /// Size of the previous plain exposition: the next buffer starts that large, so a big
    /// exposition is not copied over and over while it grows.
    last_size: Arc<AtomicUsize>,
}

/// The exporter's routes; `created`: write OpenMetrics `_created` samples.
pub fn router(pipeline: Pipeline, created: bool) -> Router {
    let state = Exporter {
        pipeline,
        created,
        last_size: Arc::new(AtomicUsize::new(0)),
    };
    Router::new()
        .route("/", get(|| async { INDEX }))
        .route(
            "/-/healthy",
            get(|| async { "dozor-collector is healthy.\n" }),
        )
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn metrics(State(state): State<Exporter>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(accepts_gzip);
    // Rendering walks every series: keep it off the threads that serve receivers.
    let rendered = tokio::task::spawn_blocking(move || {
        let hint = state.last_size.load(Ordering::Relaxed);
        let body = render(
            &state.pipeline,
            format,
            gzip,
            hint + hint / 8,
            state.created,
        );
        if !gzip {
            state.last_size.store(body.len(), Ordering::Relaxed);
        }
        body
    })
    .await;
    match rendered {
        Ok(body) => {
            let mut response =
                ([(header::CONTENT_TYPE, format.content_type())], body).into_response();
            if gzip {
                response.headers_mut().insert(
                    header::CONTENT_ENCODING,
                    http::HeaderValue::from_static("gzip"),
                );
            }
            response
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("rendering failed: {e}\n"),
        )
            .into_response(),
    }
}

/// The full exposition, optionally gzip-compressed.
///
/// Families are materialised and encoded one at a time from a compact snapshot, and with gzip
/// each is compressed as soon as it is encoded, so a scrape of a million series never holds
/// them all as label strings at once.
/// `capacity` is a guess of the plain size; `created` adds the OpenMetrics `_created` samples.
pub fn render(
    pipeline: &Pipeline,
    format: Format,
    gzip: bool,
    capacity: usize,
    created: bool,
) -> Vec<u8> {
    SeriesExpired {
        count: pipeline.store.expire(),
    }
    .emit(&pipeline.telemetry);
    pipeline.fleet.expire();
    let delivery = crate::telemetry::DeliveryView {
        rows: pipeline.delivery.rows(),
        ledger_errors: pipeline.delivery.ledger_errors(),
        ledger_free: pipeline.delivery.ledger_free_bytes(),
    };
    let own = pipeline
        .telemetry
        .families(pipeline.store.len(), &pipeline.fleet.rows(), &delivery);
    let stored = pipeline.store.snapshot().with_created(created);
    let mut out = Output::new(gzip, capacity);
    let mut own = own.into_iter().peekable();
    let mut buf = String::with_capacity(64 * 1024);
    for family in stored {
        while let Some(f) = own.next_if(|f| f.name < family.name) {
            out.family(&f, format, &mut buf);
        }
        out.family(&family, format, &mut buf);
    }
    for f in own {
        out.family(&f, format, &mut buf);
    }
    out.finish(format)
}

/// Where encoded families go: a plain buffer or a gzip stream.
enum Output {
    Plain(Vec<u8>),
    Gzip(GzEncoder<Vec<u8>>),
}

impl Output {
    fn new(gzip: bool, capacity: usize) -> Self {
        if gzip {
            Output::Gzip(GzEncoder::new(Vec::new(), Compression::fast()))
        } else {
            Output::Plain(Vec::with_capacity(capacity))
        }
    }

    fn family(&mut self, family: &Family, format: Format, buf: &mut String) {
        buf.clear();
        encode_family(family, format, buf);
        self.write(buf.as_bytes());
    }

    fn write(&mut self, bytes: &[u8]) {
        match self {
            Output::Plain(v) => v.extend_from_slice(bytes),
            // Writing into a Vec cannot fail.
            Output::Gzip(e) => drop(e.write_all(bytes)),
        }
    }

    fn finish(mut self, format: Format) -> Vec<u8> {
        if format == Format::OpenMetrics {
            self.write(EOF.as_bytes());
        }
        match self {
            Output::Plain(v) => v,
            Output::Gzip(e) => e.finish().unwrap_or_default(),
        }
    }
}

const EOF: &str = "# EOF\n";

fn accepts_gzip(value: &str) -> bool {
    value.split(',').any(|part| {
        let mut it = part.split(';');
        let coding = it.next().unwrap_or("").trim();
        let refused = it.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
        coding.eq_ignore_ascii_case("gzip") && !refused
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("deflate, GZIP;q=0.5"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("identity"));
    }
}
