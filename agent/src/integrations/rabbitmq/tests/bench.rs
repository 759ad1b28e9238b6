//! The cost benchmark of docs/benchmarks-rabbitmq.md (#12), one run, side by side: broker CPU
//! (beam.smp's utime + stime from /proc, less its idle rate measured in the same run) per read
//! and per collection with 1,000 queues, and the agent's CPU per collection, against a real
//! Prometheus scraping the plugin's `/metrics/per-object` at the same interval. Ignored by
//! default; figures, not assertions:
//!
//! `cargo test --release -p dozor-agent --bin dozor-agent rabbitmq::tests::bench -- --ignored --nocapture`

use super::{amqp, instance};
use crate::integrations::Integration;
use crate::integrations::rabbitmq::Rabbitmq;
use dozor_metrics::sample::Recorder;
use std::time::{Duration, Instant};

const QUEUES: usize = 1000;
const ROUNDS: u32 = 20;

fn ticks(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    // Fields 14 and 15 of the whole line: utime, stime (clock ticks of 10 ms here).
    let hz = 100.0;
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / hz * 1000.0
}

fn beam() -> String {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "beam.smp")
        })
        .expect("beam.smp runs")
}

/// Broker ms of CPU over `f`, and the wall time it took.
fn broker_ms(pid: &str, f: impl FnOnce()) -> (f64, Duration) {
    let (c0, t0) = (ticks(pid), Instant::now());
    f();
    (ticks(pid) - c0, t0.elapsed())
}

fn curl(url: &str) {
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-u", "guest:guest", url])
        .status()
        .unwrap();
    assert!(out.success());
}

#[test]
#[ignore = "benchmark: 1,000 queues, about 3 minutes"]
fn bench() {
    let p = dozor_testkit::unique("dzrmqbench");
    amqp(&[format!("many:{p}:{QUEUES}")]);
    struct Undo(String);
    impl Drop for Undo {
        fn drop(&mut self) {
            super::amqp(&[format!("delete_many:{}:{QUEUES}", self.0)]);
        }
    }
    let _undo = Undo(p.clone());
    let pid = beam();
    std::thread::sleep(Duration::from_secs(6));
    let (idle, wall) = broker_ms(&pid, || std::thread::sleep(Duration::from_secs(10)));
    let idle_per_s = idle / wall.as_secs_f64();
    println!("broker idle: {idle_per_s:.2} ms CPU/s");
    let per_read = |label: &str, f: &dyn Fn()| {
        let (ms, wall) = broker_ms(&pid, || {
            for _ in 0..ROUNDS {
                f();
            }
        });
        let net = (ms - idle_per_s * wall.as_secs_f64()) / f64::from(ROUNDS);
        println!(
            "{label}: {net:.1} ms broker CPU per read ({ROUNDS} reads, {:.0} ms wall each)",
            wall.as_millis() as f64 / f64::from(ROUNDS)
        );
    };
    let m = "http://127.0.0.1:15672";
    per_read(
        "plugin /metrics/detailed queue_coarse_metrics+queue_consumer_count",
        &|| {
            curl(
                "http://127.0.0.1:15692/metrics/detailed?family=queue_coarse_metrics&family=queue_consumer_count",
            )
        },
    );
    per_read("plugin /metrics/per-object", &|| {
        curl("http://127.0.0.1:15692/metrics/per-object")
    });
    per_read(
        "management /api/queues columns=QUEUE_COLUMNS, 2 pages of 500",
        &|| {
            for page in 1..=2 {
                curl(&format!(
                    "{m}{}",
                    super::super::management::page_path(
                        "queues",
                        None,
                        page,
                        super::super::management::QUEUE_COLUMNS
                    )
                ));
            }
        },
    );
    per_read("management /api/queues plain", &|| {
        curl(&format!("{m}/api/queues"))
    });
    per_read("management /api/nodes + /api/overview (columns)", &|| {
        curl(&format!("{m}{}", super::super::management::NODES));
        curl(&format!("{m}{}", super::super::management::OVERVIEW));
    });

    // dozor: one collection a second; every collection with the stats (stats_interval 0), then
    // with the default stats_interval (60 s: the run's collections read depth and nodes only).
    for (label, stats) in [
        ("every collection with stats", Duration::ZERO),
        (
            "stats_interval 60s, after the first",
            Duration::from_secs(60),
        ),
    ] {
        let mut c = instance("bench", &p);
        c.stats_interval = dozor_config::Duration(stats);
        let mut r = Rabbitmq::new(&c, Duration::from_secs(10)).unwrap();
        let mut rec = Recorder::new();
        r.collect(&mut rec).unwrap();
        let series = rec.take().len();
        let me = std::process::id().to_string();
        let a0 = ticks(&me);
        let start = Instant::now();
        let (ms, wall) = broker_ms(&pid, || {
            for i in 0..ROUNDS {
                std::thread::sleep(
                    (start + Duration::from_secs(u64::from(i)))
                        .saturating_duration_since(Instant::now()),
                );
                let mut rec = Recorder::new();
                r.collect(&mut rec).unwrap();
            }
        });
        let agent = (ticks(&me) - a0) / f64::from(ROUNDS);
        let net = (ms - idle_per_s * wall.as_secs_f64()) / f64::from(ROUNDS);
        println!(
            "dozor ({label}): {net:.1} ms broker CPU per collection, {agent:.1} ms agent CPU per collection (debug build), {series} series"
        );
    }

    // Prometheus scraping /metrics/per-object every second for ROUNDS seconds.
    let dir = tempfile::tempdir().unwrap();
    let config = "global: {scrape_interval: 1s, scrape_timeout: 1s}\nscrape_configs:\n  - job_name: rabbitmq\n    metrics_path: /metrics/per-object\n    static_configs: [{targets: ['127.0.0.1:15692']}]\n";
    let prom = dozor_testkit::Prometheus::start(dir.path(), config);
    let ppid = prom.proc.child.id().to_string();
    std::thread::sleep(Duration::from_secs(3));
    let p0 = ticks(&ppid);
    let (ms, wall) = broker_ms(&pid, || {
        std::thread::sleep(Duration::from_secs(u64::from(ROUNDS)))
    });
    let scrapes = wall.as_secs_f64();
    let net = (ms - idle_per_s * wall.as_secs_f64()) / scrapes;
    println!(
        "prometheus scraping /metrics/per-object every 1s: {net:.1} ms broker CPU per scrape, {:.1} ms Prometheus CPU per scrape",
        (ticks(&ppid) - p0) / scrapes
    );
}
