//! Issue #18: the collector's delivery ledger on a small file system (a tmpfs the test mounts)
//! that fills to the last byte while three agents send. Every batch is either recorded in the
//! ledger or refused (503, `ledger_unwritable`), so the agent keeps it; once space is back and
//! the collector restarted, every batch the agents appended is in the ledger exactly once and
//! the collector reports no gap.
//!
//! Ground truth: each agent's log of every batch appended to its buffer (stream, seq, points);
//! the ledger's `A` lines.

use dozor_e2e::delivery::{Accepted, all_accepted, caught_up, demo_agent_config, lost, metric_sum};
use dozor_testkit::tmpfs::Tmpfs;
use dozor_testkit::{Collector, Proc, http_get, start_agent, wait_for};
use std::time::Duration;

const AGENTS: [&str; 3] = ["ledger-a", "ledger-b", "ledger-c"];

fn refused(collector: &Collector) -> f64 {
    http_get(&collector.metrics, "/metrics").map_or(0.0, |(_, body)| {
        metric_sum(
            &body,
            "dozor_collector_refused_requests_total{",
            &["reason=\"ledger_unwritable\""],
        )
    })
}

#[test]
fn a_full_ledger_disk_refuses_what_it_cannot_record_and_leaves_no_gap() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let disk = Tmpfs::mount(1024 * 1024);
    let ledger = disk.path().join("ledger");
    let extra = format!(
        "delivery:\n  ledger_path: {}\n  ledger_max_bytes: 1073741824\n",
        ledger.display()
    );
    let mut collector = Collector::start(d, &extra);
    let ports = collector.ports();
    let mut agents: Vec<Proc> = AGENTS
        .iter()
        .map(|name| start_agent(d, name, &demo_agent_config(d, name, ports.0, "500ms", 100)))
        .collect();
    wait_for(Duration::from_secs(60), || {
        all_accepted(&ledger, &AGENTS, 3).then_some(())
    })
    .unwrap_or_else(|| panic!("agents did not deliver:\n{}", agents[0].output()));

    // The ledger's disk fills; the collector must refuse what it cannot record.
    let filler = disk.fill("filler");
    let lines_when_full = Accepted::read(&ledger)
        .batches
        .values()
        .map(|b| b.len())
        .sum::<usize>();
    let refusals = wait_for(Duration::from_secs(60), || {
        let n = refused(&collector);
        (n >= 20.0).then_some(n)
    })
    .unwrap_or_else(|| {
        panic!(
            "the collector refused nothing with its ledger's disk full ({} bytes free):\n{}",
            disk.free(),
            collector.proc.output()
        )
    });
    // While it refuses, the agents keep what they appended and nothing is counted as a gap.
    std::thread::sleep(Duration::from_secs(3));
    let (_, body) = http_get(&collector.metrics, "/metrics").expect("scraping the collector");
    let gaps_while_full = metric_sum(
        &body,
        "dozor_collector_delivery_missing_batches_total{",
        &[],
    );

    // Space comes back; the collector is restarted (the issue saw false gaps after a restart).
    std::fs::remove_file(&filler).expect("removing the filler");
    assert!(
        collector.proc.terminate(Duration::from_secs(20)).is_some(),
        "the collector did not stop on SIGTERM"
    );
    let collector = Collector::start_on(d, ports, &extra);
    let caught_up = wait_for(Duration::from_secs(120), || {
        caught_up(d, &ledger, &AGENTS, 0).then_some(())
    });
    for agent in &mut agents {
        assert!(
            agent.terminate(Duration::from_secs(20)).is_some(),
            "agent did not stop on SIGTERM"
        );
    }
    let accepted = Accepted::read(&ledger);
    let (_, body) = http_get(&collector.metrics, "/metrics").expect("scraping the collector");
    let gaps = metric_sum(
        &body,
        "dozor_collector_delivery_missing_batches_total{",
        &[],
    );
    let mut total = 0;
    for a in AGENTS {
        let (all, really_lost) = lost(d, a, &accepted);
        total += all.len();
        assert!(
            caught_up.is_some() && really_lost.is_empty(),
            "{a}: {} of {} batches missing from the ledger: {:?}",
            really_lost.len(),
            all.len(),
            &really_lost[..really_lost.len().min(10)]
        );
    }
    eprintln!(
        "{total} batches appended by {} agents; {lines_when_full} recorded when the disk filled; \
         {refusals} refused as ledger_unwritable; gaps while full {gaps_while_full}, after the \
         restart {gaps}; {} stored twice",
        AGENTS.len(),
        accepted.duplicates.len()
    );
    assert!(
        accepted.duplicates.is_empty(),
        "batches stored twice: {:?}",
        accepted.duplicates
    );
    assert_eq!(gaps_while_full, 0.0, "gaps counted while the disk was full");
    assert_eq!(gaps, 0.0, "gaps counted after the restart");
}
