//! In-process ingest throughput: prescan, protobuf decode, translation and the series store,
//! the work a receiver does per request (no sockets). Also the memory the store holds for the fleet.
//!
//! Run: `cargo bench -p dozor-collector --bench ingest` (optional arguments: agents, series per
//! agent, rounds). Prints points per second per core for each stage.

use dozor_collector::loadgen::Workload;
use dozor_collector::receivers::Pipeline;
use dozor_collector::store::Store;
use dozor_collector::store::fleet::Fleet;
use dozor_collector::telemetry::{Receiver, Telemetry};
use dozor_metrics::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use dozor_metrics::translate::{Options, translate};
use prost::Message;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let w = Workload {
        agents: args.first().copied().unwrap_or(100),
        series_per_agent: args.get(1).copied().unwrap_or(2_000),
        batch: 1_000,
    };
    let rounds = args.get(2).copied().unwrap_or(10) as u64;
    let points_per_round = w.series() as f64;
    let encode = |round| -> Vec<Vec<u8>> {
        w.requests(round, 1_700_000_000_000_000_000 + round)
            .iter()
            .map(|r| r.encode_to_vec())
            .collect()
    };
    let bodies: Vec<Vec<Vec<u8>>> = (1..=rounds).map(encode).collect();
    let bytes: usize = bodies[0].iter().map(Vec::len).sum();
    println!(
        "workload: {} agents x {} series = {} series, {} requests of {} points, {:.0} bytes/point encoded",
        w.agents,
        w.series_per_agent,
        w.series(),
        bodies[0].len(),
        w.batch,
        bytes as f64 / points_per_round
    );

    let rate = |d: Duration, rounds: u64| points_per_round * rounds as f64 / d.as_secs_f64();

    let t = Instant::now();
    for round in &bodies {
        for b in round {
            std::hint::black_box(ExportMetricsServiceRequest::decode(b.as_slice()).unwrap());
        }
    }
    println!(
        "decode only:                   {:>10.0} points/s/core",
        rate(t.elapsed(), rounds)
    );

    let options = Options {
        promote: vec!["site".into(), "role".into()],
    };
    let t = Instant::now();
    for round in &bodies {
        for b in round {
            let req = ExportMetricsServiceRequest::decode(b.as_slice()).unwrap();
            let mut points = Vec::with_capacity(1_100);
            for rm in &req.resource_metrics {
                translate(rm, &options, &mut points);
            }
            std::hint::black_box(points);
        }
    }
    println!(
        "decode + translate:            {:>10.0} points/s/core",
        rate(t.elapsed(), rounds)
    );

    let rss_before = rss_kib();
    let pipeline = pipeline(dozor_collector::store::SHARDS, &options);
    let t = Instant::now();
    ingest(&pipeline, &bodies[0]);
    println!(
        "full, first round (new series): {:>9.0} points/s/core",
        rate(t.elapsed(), 1)
    );
    let t = Instant::now();
    for round in &bodies[1..] {
        ingest(&pipeline, round);
    }
    println!(
        "full, steady state:            {:>10.0} points/s/core  <- decode + translate + store",
        rate(t.elapsed(), rounds - 1)
    );
    let rss_after = rss_kib();
    println!(
        "store: {} series held, RSS grew by {:.1} MiB ({:.0} bytes/series)",
        pipeline.store.len(),
        (rss_after - rss_before) as f64 / 1024.0,
        (rss_after - rss_before) as f64 * 1024.0 / pipeline.store.len() as f64
    );

    for (gzip, what) in [(false, "text"), (true, "text+gzip")] {
        let before = rss_kib();
        let t = Instant::now();
        let body = dozor_collector::exporters::prometheus::render(
            &pipeline,
            dozor_metrics::exposition::Format::Text,
            gzip,
            0,
            false,
        );
        println!(
            "scrape ({what}) of {} series: {:.0} ms, {} bytes, RSS +{:.1} MiB",
            pipeline.store.len(),
            t.elapsed().as_secs_f64() * 1e3,
            body.len(),
            (rss_kib() - before) as f64 / 1024.0
        );
    }

    // Where a steady-state point's time goes (one thread, series already present).
    let (mut decode, mut trans, mut store) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for round in &bodies[1..] {
        for b in round {
            let t0 = Instant::now();
            let req = ExportMetricsServiceRequest::decode(b.as_slice()).unwrap();
            let t1 = Instant::now();
            let mut points = Vec::with_capacity(1_100);
            for rm in &req.resource_metrics {
                translate(rm, &options, &mut points);
            }
            let t2 = Instant::now();
            pipeline.store.ingest(points);
            let t3 = Instant::now();
            decode += t1 - t0;
            trans += t2 - t1;
            store += t3 - t2;
        }
    }
    let per = |d: Duration| d.as_nanos() as f64 / (points_per_round * (rounds - 1) as f64);
    println!(
        "per point: decode {:.0} ns, translate {:.0} ns, store {:.0} ns (incl. dropping the point)",
        per(decode),
        per(trans),
        per(store)
    );

    for shards in [1, dozor_collector::store::SHARDS] {
        let p = pipeline_with(shards, &options);
        ingest(&p, &bodies[0]);
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let t = Instant::now();
        std::thread::scope(|s| {
            for k in 0..threads {
                let (p, bodies) = (&p, &bodies);
                s.spawn(move || {
                    for round in &bodies[1..] {
                        // Each thread takes its own agents' requests, as connections would.
                        let mine: Vec<_> = round.iter().skip(k).step_by(threads).cloned().collect();
                        ingest(p, &mine);
                    }
                });
            }
        });
        let total = rate(t.elapsed(), rounds - 1);
        println!(
            "full, {threads} threads, {shards:>2} shard(s):  {total:>10.0} points/s total, {:.0} per core",
            total / threads as f64
        );
    }
}

fn pipeline(shards: usize, options: &Options) -> Pipeline {
    pipeline_with(shards, options)
}

fn pipeline_with(shards: usize, options: &Options) -> Pipeline {
    Pipeline {
        store: Arc::new(Store::with_shards(
            shards,
            10_000_000,
            Duration::from_secs(300),
            Telemetry::reserved_names(),
        )),
        fleet: Arc::new(Fleet::new(Duration::from_secs(86_400))),
        telemetry: Arc::new(Telemetry::new()),
        options: Arc::new(options.clone()),
        delivery: Arc::new(dozor_collector::delivery::Delivery::in_memory(
            Duration::from_secs(86_400),
        )),
        gate: Arc::new(dozor_collector::admission::Gate::default()),
        budget: None,
        unidentified_budget: None,
        logs: None,
        bounds: (&dozor_collector::config::RequestLimits::default()).into(),
        point_bounds: Default::default(),
        spans: Arc::new(
            dozor_collector::spans::Spans::new(
                &Default::default(),
                None,
                Arc::new(Telemetry::new()),
            )
            .expect("default routes"),
        ),
        remote_write: None,
    }
}

fn ingest(pipeline: &Pipeline, bodies: &[Vec<u8>]) {
    for b in bodies {
        // What a receiver does with a request's bytes: prescan, charge, decode, store.
        let resp = pipeline.receive_metrics(
            Receiver::OtlpGrpc,
            b,
            &http::HeaderMap::new(),
            &dozor_collector::admission::Admitted::default(),
        );
        assert!(
            resp.as_ref().is_ok_and(|r| r.partial_success.is_none()),
            "{resp:?}"
        );
    }
}

fn rss_kib() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
