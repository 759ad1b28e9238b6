//! Issue #3: the collector goes away for long enough that the agent's buffer fills and drops
//! its oldest batches. The dropped count the agent exports equals, exactly, the data points
//! that never arrived; and the collector, which knew the agent's stream before the outage,
//! counts the same batches as missing.
//!
//! Ground truth: the batches the agent logged as appended, minus the batches the collector's
//! ledger accepted.

use dozor_e2e::delivery::{Accepted, appended, metric, metric_sum, missing};
use dozor_testkit::{Collector, http_get, start_agent, wait_for};
use std::time::Duration;

#[test]
fn the_dropped_count_equals_the_points_that_never_arrived() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ledger = d.join("ledger");
    let ports = Collector::free_ports();
    let buffer = d.join("buffer");
    let config = format!(
        "agent:\n  interval: 200ms\n  timeout: 1s\nresource:\n  instance_id: drop-agent\n\
         exporters:\n  otlp:\n    endpoints: [\"http://127.0.0.1:{}\"]\n    flush_interval: 100ms\n\
         \x20   buffer:\n      path: {}\n      max_bytes: 262144\n      segment_bytes: 32768\n      when_full: drop_oldest\n\
         integrations:\n  host:\n    enabled: false\n  demo:\n    enabled: true\n    series: 300\n",
        ports.0,
        buffer.display()
    );
    let extra = format!("delivery:\n  ledger_path: {}\n", ledger.display());
    let mut collector = Collector::start_on(d, ports.clone(), &extra);
    let mut agent = start_agent(d, "agent", &config);
    let log = d.join("agent.log");
    // The collector knows the agent's stream before the outage, so it can see the gap.
    wait_for(Duration::from_secs(60), || {
        (Accepted::read(&ledger).of("drop-agent").len() >= 2).then_some(())
    })
    .unwrap_or_else(|| panic!("the agent did not deliver:\n{}", agent.output()));
    collector.kill();

    // The outage: the buffer (256 KiB) fills and the agent starts dropping.
    wait_for(Duration::from_secs(120), || {
        dozor_e2e::delivery::dropped(&[&log])
            .len()
            .ge(&3)
            .then_some(())
    })
    .unwrap_or_else(|| panic!("the agent never dropped a batch:\n{}", agent.output()));

    let collector = Collector::start_on(d, ports, &extra);
    // After the outage the backlog drains; drops stop; the agent's own counters, exported in
    // later batches, catch up with what it dropped.
    let never_arrived = |accepted: &Accepted| -> (u64, usize) {
        let all = appended(&[&log]);
        let newest = accepted
            .of("drop-agent")
            .keys()
            .map(|(_, s)| *s)
            .max()
            .unwrap_or(0);
        // Only batches older than the newest accepted one can be judged: newer ones may still
        // be on their way.
        let judged: Vec<_> = all.into_iter().filter(|b| b.seq < newest).collect();
        let lost = missing(&judged, &accepted.of("drop-agent"));
        (lost.iter().map(|b| b.points).sum(), lost.len())
    };
    let settled = wait_for(Duration::from_secs(120), || {
        let (_, body) = http_get(&collector.metrics, "/metrics").ok()?;
        let exported = metric(
            &body,
            "dozor_agent_export_points_total{",
            &["outcome=\"dropped\"", "instance=\"drop-agent\""],
        )?;
        let (points, batches) = never_arrived(&Accepted::read(&ledger));
        (exported as u64 == points && points > 0).then_some((exported, points, batches, body))
    });
    let (_, body) = http_get(&collector.metrics, "/metrics").expect("scraping the collector");
    let exported = metric(
        &body,
        "dozor_agent_export_points_total{",
        &["outcome=\"dropped\"", "instance=\"drop-agent\""],
    );
    let (points, batches) = never_arrived(&Accepted::read(&ledger));
    let logged: u64 = dozor_e2e::delivery::dropped(&[&log])
        .iter()
        .map(|(_, _, p)| p)
        .sum();
    agent.terminate(Duration::from_secs(20));
    eprintln!(
        "never arrived: {batches} batches, {points} points; agent exported dropped={exported:?}, logged {logged}"
    );
    let Some((_, _, _, body)) = settled else {
        panic!(
            "exported dropped points {exported:?} never equalled the {points} points that never arrived"
        );
    };
    assert_eq!(logged, points, "the agent's drop log disagrees");
    drop(body);
    let gaps = wait_for(Duration::from_secs(30), || {
        let (_, body) = http_get(&collector.metrics, "/metrics").ok()?;
        let gaps = metric_sum(
            &body,
            "dozor_collector_delivery_missing_batches_total{",
            &["agent=\"drop-agent\""],
        );
        (gaps as usize == batches).then_some(gaps)
    });
    assert_eq!(
        gaps.map(|g| g as usize),
        Some(batches),
        "the collector's missing-batch count differs from the batches that never arrived"
    );
}
