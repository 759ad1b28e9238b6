//! The prescan against what it guards: scanning an agent-like request on the wire versus
//! decoding it (and translating it), in MB/s of protobuf and points per second.
//!
//! Run: `cargo bench -p dozor-collector --bench prescan` (optional arguments: points per
//! request, rounds).

use dozor_collector::loadgen::Workload;
use dozor_collector::receivers::prescan;
use dozor_metrics::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use dozor_metrics::translate::{Options, translate};
use prost::Message;
use std::hint::black_box;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let points = args.first().copied().unwrap_or(1_000);
    let rounds = args.get(1).copied().unwrap_or(2_000);
    let w = Workload {
        agents: 1,
        series_per_agent: points,
        batch: points,
    };
    let body = w.requests(1, 1_700_000_000_000_000_000)[0].encode_to_vec();
    let bounds = (&dozor_collector::config::RequestLimits::default()).into();
    let cost = prescan::metrics(&body, &bounds).expect("within the default limits");
    println!(
        "request: {points} points, {} bytes; prescan: {} points, {} attributes, {} bytes estimated",
        body.len(),
        cost.data_points,
        cost.attributes,
        cost.decoded_bytes
    );

    let options = Options {
        promote: vec!["site".into(), "role".into()],
    };
    let report = |what: &str, d: Duration| {
        let per = d.as_secs_f64() / rounds as f64;
        println!(
            "{what:<20} {:>8.1} us/request  {:>8.0} MB/s  {:>11.0} points/s",
            per * 1e6,
            body.len() as f64 / per / 1e6,
            points as f64 / per
        );
        per
    };

    let t = Instant::now();
    for _ in 0..rounds {
        black_box(prescan::metrics(black_box(&body), &bounds).ok());
    }
    let scan = report("prescan", t.elapsed());

    let t = Instant::now();
    for _ in 0..rounds {
        black_box(ExportMetricsServiceRequest::decode(black_box(body.as_slice())).ok());
    }
    let decode = report("decode", t.elapsed());

    let t = Instant::now();
    for _ in 0..rounds {
        let Ok(req) = ExportMetricsServiceRequest::decode(black_box(body.as_slice())) else {
            continue;
        };
        let mut out = Vec::with_capacity(points + 1);
        for rm in &req.resource_metrics {
            translate(rm, &options, &mut out);
        }
        black_box(out);
    }
    let full = report("decode + translate", t.elapsed());
    println!(
        "prescan costs {:.1}% of decoding, {:.1}% of decoding and translating",
        100.0 * scan / decode,
        100.0 * scan / full
    );
}
