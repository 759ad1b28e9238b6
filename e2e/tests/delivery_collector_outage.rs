//! Issue #3: the collector killed with SIGKILL for a minute while three agents send at a steady
//! rate, then restarted. Every batch the agents produced, before, during and after the outage,
//! arrives, exactly once, with the points the agent put in it; the collector sees no gap.
//!
//! Ground truth: each agent logs every batch it appends to its buffer (stream, seq, points); the
//! collector's ledger records every batch it accepted. The outage lasts
//! `DOZOR_E2E_OUTAGE_SECS` seconds (60 by default, as the issue asks).

use dozor_e2e::delivery::{
    Accepted, all_accepted, appended, caught_up, demo_agent_config, lost, metric_sum,
};
use dozor_testkit::{Collector, Proc, http_get, start_agent, wait_for};
use std::path::Path;
use std::time::Duration;

const AGENTS: [&str; 3] = ["outage-a", "outage-b", "outage-c"];

fn agent_config(dir: &Path, name: &str, grpc: u16) -> String {
    demo_agent_config(dir, name, grpc, "1s", 300)
}

fn logs(dir: &Path, name: &str) -> std::path::PathBuf {
    dir.join(format!("{name}.log"))
}

#[test]
fn nothing_is_lost_or_doubled_across_a_collector_outage() {
    let outage: u64 = std::env::var("DOZOR_E2E_OUTAGE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ledger = d.join("ledger");
    let extra = format!(
        "delivery:\n  ledger_path: {}\n  ledger_max_bytes: 1073741824\n",
        ledger.display()
    );
    let mut collector = Collector::start(d, &extra);
    let ports = collector.ports();
    let mut agents: Vec<Proc> = AGENTS
        .iter()
        .map(|name| start_agent(d, name, &agent_config(d, name, ports.0)))
        .collect();
    let appended_of = |name: &str| appended(&[&logs(d, name)]);

    // Steady state: every agent has delivered a few batches.
    wait_for(Duration::from_secs(60), || {
        all_accepted(&ledger, &AGENTS, 3).then_some(())
    })
    .unwrap_or_else(|| panic!("agents did not deliver:\n{}", agents[0].output()));

    collector.kill();
    let before: Vec<usize> = AGENTS.iter().map(|a| appended_of(a).len()).collect();
    std::thread::sleep(Duration::from_secs(outage));
    let during: Vec<usize> = AGENTS.iter().map(|a| appended_of(a).len()).collect();
    for (i, a) in AGENTS.iter().enumerate() {
        assert!(
            during[i] >= before[i] + (outage as usize) / 2,
            "{a} did not keep collecting during the outage ({} → {} batches)",
            before[i],
            during[i]
        );
    }
    let collector = Collector::start_on(d, ports, &extra);

    // Catch-up: every batch appended so far, but the last two per agent (which may still be in
    // flight), reaches the collector.
    let during_min = during.iter().copied().min().unwrap_or(0);
    let caught_up = wait_for(Duration::from_secs(180), || {
        caught_up(d, &ledger, &AGENTS, during_min).then_some(())
    });
    for agent in &mut agents {
        assert!(
            agent.terminate(Duration::from_secs(20)).is_some(),
            "agent did not stop on SIGTERM"
        );
    }
    let accepted = Accepted::read(&ledger);
    for a in AGENTS {
        let (all, really_lost) = lost(d, a, &accepted);
        assert!(
            caught_up.is_some() && really_lost.is_empty(),
            "{a}: {} of {} batches never arrived: {:?}",
            really_lost.len(),
            all.len(),
            &really_lost[..really_lost.len().min(10)]
        );
        let points: u64 = all.iter().map(|b| b.points).sum();
        eprintln!(
            "{a}: {} batches, {points} points appended; {} batches accepted",
            all.len(),
            accepted.of(a).len()
        );
    }
    assert!(
        accepted.duplicates.is_empty(),
        "batches stored twice: {:?}",
        &accepted.duplicates[..accepted.duplicates.len().min(10)]
    );
    let (_, body) = http_get(&collector.metrics, "/metrics").expect("scraping the collector");
    let gaps = metric_sum(
        &body,
        "dozor_collector_delivery_missing_batches_total{",
        &[],
    );
    assert_eq!(gaps, 0.0, "the collector counted gaps");
}
