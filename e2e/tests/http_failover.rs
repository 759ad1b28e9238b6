//! The agent over OTLP/HTTP with two endpoints, the first one dead: its batches fail over to the
//! second, and both outcomes are counted in its own export metrics.

use dozor_testkit::{Collector, Proc, bin, free_port, http_get, wait_for};
use std::process::Command;
use std::time::Duration;

#[test]
fn http_protocol_fails_over_to_the_second_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let collector = Collector::start(d, "");
    let (http, dead) = (collector.http, free_port());
    let collector_addr = collector.metrics.clone();
    std::fs::write(
        d.join("agent.yaml"),
        format!(
            "agent:\n  interval: 1s\nresource:\n  instance_id: failover-agent\n\
             exporters:\n  otlp:\n    protocol: http\n    endpoints: [\"http://127.0.0.1:{dead}\", \"http://127.0.0.1:{http}\"]\n    flush_interval: 200ms\n    buffer:\n      path: {}\n",
            d.join("buffer").display()
        ),
    )
    .unwrap();
    let agent = Proc::spawn(
        "agent",
        d,
        Command::new(bin("dozor-agent"))
            .arg("--config")
            .arg(d.join("agent.yaml")),
    );

    let dead_endpoint = format!("endpoint=\"http://127.0.0.1:{dead}\"");
    let live_endpoint = format!("endpoint=\"http://127.0.0.1:{http}\"");
    let body = wait_for(Duration::from_secs(30), || {
        let (_, body) = http_get(&collector_addr, "/metrics").ok()?;
        // Export counters travel in the next batch, so wait until a batch reports the earlier ones.
        let counted = body.lines().any(|l| {
            l.starts_with("dozor_agent_export_requests_total{")
                && l.contains(&live_endpoint)
                && l.contains("outcome=\"sent\"")
        });
        (body.contains("system_cpu_time_seconds_total{") && counted).then_some(body)
    })
    .unwrap_or_else(|| {
        panic!(
            "no data via the second endpoint.\nagent log:\n{}",
            agent.output()
        )
    });
    assert!(body.contains("instance=\"failover-agent\""));
    assert!(
        body.lines()
            .any(|l| l.starts_with("dozor_agent_export_requests_total{")
                && l.contains(&dead_endpoint)
                && l.contains("outcome=\"unreachable\"")),
        "dead endpoint not counted as unreachable:\n{}",
        body.lines()
            .filter(|l| l.contains("export_requests"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
