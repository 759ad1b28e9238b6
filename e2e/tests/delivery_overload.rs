//! Issue #3, overload: three agents each produce ten times the collector's per-agent rate
//! limit. The collector refuses with retry-after instead of growing (its memory stays under
//! its configured limit), the agents back off and keep the surplus in their buffers, and when
//! the load falls they catch up: every batch arrives, exactly once.

use dozor_e2e::delivery::{Accepted, appended, metric_sum, missing};
use dozor_testkit::{Collector, Proc, http_get, rss_kib, start_agent, wait_for};
use std::path::Path;
use std::time::{Duration, Instant};

const AGENTS: [&str; 3] = ["load-a", "load-b", "load-c"];
const RATE_LIMIT: u64 = 1_000;
const MEMORY_LIMIT: u64 = 128 * 1024 * 1024;

fn config(dir: &Path, name: &str, grpc: u16, interval: &str) -> String {
    format!(
        "agent:\n  interval: {interval}\nresource:\n  instance_id: {name}\n\
         exporters:\n  otlp:\n    endpoints: [\"http://127.0.0.1:{grpc}\"]\n    flush_interval: 100ms\n\
         \x20   buffer:\n      path: {}\n\
         \x20   retry:\n      max_backoff: 2s\n    shutdown_timeout: 1s\n\
         integrations:\n  host:\n    enabled: false\n  demo:\n    enabled: true\n    series: 1000\n",
        dir.join(format!("{name}-buffer")).display()
    )
}

fn rss_bytes(pid: u32) -> u64 {
    rss_kib(pid) * 1024
}

#[test]
fn agents_back_off_under_ten_times_the_limit_and_catch_up_when_it_falls() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ledger = d.join("ledger");
    let collector = Collector::start(
        d,
        &format!(
            "delivery:\n  ledger_path: {}\n  ledger_max_bytes: 1073741824\n\
             limits:\n  memory:\n    limit: {MEMORY_LIMIT}\n  per_agent:\n    points_per_second: {RATE_LIMIT}\n",
            ledger.display()
        ),
    );
    let pid = collector.proc.child.id();
    let mut rss_max = rss_bytes(pid);
    // 1,000 series every 100 ms: 10,000 points per second per agent, ten times the limit.
    let mut agents: Vec<Proc> = AGENTS
        .iter()
        .map(|a| start_agent(d, a, &config(d, a, collector.grpc, "100ms")))
        .collect();
    let overload = Instant::now();
    while overload.elapsed() < Duration::from_secs(4) {
        rss_max = rss_max.max(rss_bytes(pid));
        std::thread::sleep(Duration::from_millis(100));
    }
    // The load falls: the same agents (same buffers) now produce 200 points per second.
    for agent in &agents {
        agent.sigterm();
    }
    for (agent, name) in agents.iter_mut().zip(AGENTS) {
        assert!(agent.terminate(Duration::from_secs(20)).is_some());
        *agent = start_agent(d, name, &config(d, name, collector.grpc, "5s"));
    }
    let produced: Vec<usize> = AGENTS
        .iter()
        .map(|a| appended(&[&d.join(format!("{a}.log"))]).len())
        .collect();
    let caught_up = wait_for(Duration::from_secs(180), || {
        rss_max = rss_max.max(rss_bytes(pid));
        let accepted = Accepted::read(&ledger);
        AGENTS
            .iter()
            .zip(&produced)
            .all(|(a, n)| {
                let all = appended(&[&d.join(format!("{a}.log"))]);
                missing(&all[..*n], &accepted.of(a)).is_empty()
            })
            .then_some(())
    });
    let (_, body) = http_get(&collector.metrics, "/metrics").expect("scraping the collector");
    let accepted = Accepted::read(&ledger);
    let mut never = Vec::new();
    for (a, n) in AGENTS.iter().zip(&produced) {
        let all = appended(&[&d.join(format!("{a}.log"))]);
        let lost = missing(&all[..*n], &accepted.of(a));
        let points: u64 = all[..*n].iter().map(|b| b.points).sum();
        eprintln!(
            "{a}: {n} batches ({points} points) produced under overload and after; {} not yet arrived",
            lost.len()
        );
        never.extend(lost.into_iter().map(|b| (a, b)));
    }
    assert!(
        caught_up.is_some() && never.is_empty(),
        "{} batches never arrived: {:?}",
        never.len(),
        &never[..never.len().min(5)]
    );
    let rate_limited = metric_sum(
        &body,
        "dozor_collector_refused_requests_total{",
        &["reason=\"rate_limited\""],
    );
    eprintln!(
        "collector: {rate_limited} requests refused as rate limited; RSS at most {} MiB (limit {} MiB)",
        rss_max / (1 << 20),
        MEMORY_LIMIT / (1 << 20)
    );
    assert!(rate_limited > 0.0, "the rate limit never refused anything");
    assert!(
        rss_max < MEMORY_LIMIT,
        "collector RSS {rss_max} over its limit"
    );
    assert!(accepted.duplicates.is_empty(), "{:?}", accepted.duplicates);
}
