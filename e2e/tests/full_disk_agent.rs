//! Issue #18: the agent's buffer on a small file system that fills up (a tmpfs the test mounts,
//! then fills to the last byte) while the collector is down; the agent restarted in the middle;
//! then the collector back with 0 bytes free on the agent's disk. The backlog drains, the agent
//! frees its space, and every point the agent produced is accounted for, exactly: delivered, or
//! counted as dropped at the collector, the drops made before the restart included.
//!
//! Ground truth: the agent's log of every batch appended to its buffer (stream, seq, points),
//! of every range of older batches dropped to make room, and of every batch that could not be
//! written at all; the collector's ledger of every batch it accepted.

use dozor_e2e::delivery::{Accepted, appended, dropped, failed_writes, metric, missing};
use dozor_testkit::tmpfs::Tmpfs;
use dozor_testkit::{Collector, http_get, start_agent, wait_for};
use std::time::Duration;

const AGENT: &str = "full-disk-agent";

#[test]
fn a_full_buffer_disk_drains_and_every_point_is_delivered_or_counted_as_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let disk = Tmpfs::mount(1024 * 1024);
    let buffer = disk.path().join("buffer");
    let ledger = d.join("ledger");
    let ports = Collector::free_ports();
    // `max_bytes` far above the disk: the disk, not the buffer's bound, runs out.
    let config = format!(
        "agent:\n  interval: 200ms\n  timeout: 1s\nresource:\n  instance_id: {AGENT}\n\
         exporters:\n  otlp:\n    endpoints: [\"http://127.0.0.1:{}\"]\n    flush_interval: 100ms\n\
         \x20   buffer:\n      path: {}\n      max_bytes: 67108864\n      segment_bytes: 32768\n      when_full: drop_oldest\n\
         integrations:\n  host:\n    enabled: false\n  demo:\n    enabled: true\n    series: 300\n",
        ports.0,
        buffer.display()
    );
    let extra = format!("delivery:\n  ledger_path: {}\n", ledger.display());
    let log = d.join("agent.log");
    let mut collector = Collector::start_on(d, ports.clone(), &extra);
    let mut agent = start_agent(d, "agent", &config);
    // The collector knows the agent's stream before the outage, so it can judge gaps.
    wait_for(Duration::from_secs(60), || {
        (Accepted::read(&ledger).of(AGENT).len() >= 2).then_some(())
    })
    .unwrap_or_else(|| panic!("the agent did not deliver:\n{}", agent.output()));
    collector.kill();

    // The backlog grows to 384 KiB, then the disk fills: what the agent has not taken yet goes
    // to a filler file that stays to the end.
    let free_at_start = disk.free();
    wait_for(Duration::from_secs(60), || {
        (disk.free() + 384 * 1024 <= free_at_start).then_some(())
    })
    .unwrap_or_else(|| panic!("the backlog did not grow:\n{}", agent.output()));
    let filler = disk.fill("filler");
    let drops = |n: usize| {
        wait_for(Duration::from_secs(120), || {
            (dropped(&[&log]).len() >= n).then_some(())
        })
    };
    drops(3).unwrap_or_else(|| {
        panic!(
            "the agent never dropped on a full disk ({} bytes free):\n{}",
            disk.free(),
            agent.output()
        )
    });
    // Restarted on the full disk: the drops so far must still reach the collector.
    assert!(
        agent.terminate(Duration::from_secs(20)).is_some(),
        "the agent did not stop on SIGTERM"
    );
    let dropped_before_restart: u64 = dropped(&[&log]).iter().map(|(_, _, p)| p).sum::<u64>()
        + failed_writes(&[&log]).iter().sum::<u64>();
    let mut agent = start_agent(d, "agent", &config);
    let before = dropped(&[&log]).len();
    drops(before + 2).unwrap_or_else(|| {
        panic!(
            "the restarted agent never dropped on the full disk:\n{}",
            agent.output()
        )
    });
    let free_at_collector_start = disk.free();
    let collector = Collector::start_on(d, ports, &extra);

    // The backlog drains and acknowledged segments are deleted, though the disk was full.
    let freed = wait_for(Duration::from_secs(120), || {
        (disk.free() >= 320 * 1024).then(|| disk.free())
    })
    .unwrap_or_else(|| {
        panic!(
            "the agent never freed its disk ({} bytes free):\n{}",
            disk.free(),
            agent.output()
        )
    });

    // Every point: delivered, or counted as dropped by the agent, and that count at the collector.
    let account = || {
        let accepted = Accepted::read(&ledger).of(AGENT);
        let newest = accepted.keys().map(|(_, s)| *s).max().unwrap_or(0);
        // Batches newer than the newest accepted one may still be on their way.
        let judged: Vec<_> = appended(&[&log])
            .into_iter()
            .filter(|b| b.seq < newest)
            .collect();
        let appended_points: u64 = judged.iter().map(|b| b.points).sum();
        let lost: u64 = missing(&judged, &accepted).iter().map(|b| b.points).sum();
        let never_written: u64 = failed_writes(&[&log]).iter().sum();
        let delivered = appended_points - lost;
        (
            appended_points + never_written,
            delivered,
            lost + never_written,
        )
    };
    let exported = || {
        let (_, body) = http_get(&collector.metrics, "/metrics").ok()?;
        metric(
            &body,
            "dozor_agent_export_points_total{",
            &["outcome=\"dropped\"", &format!("instance=\"{AGENT}\"")],
        )
    };
    let settled = wait_for(Duration::from_secs(120), || {
        let (produced, delivered, dropped) = account();
        let at_collector = exported()? as u64;
        (at_collector == dropped && dropped > 0).then_some((produced, delivered, dropped))
    });
    let (produced, delivered, lost) = account();
    let at_collector = exported();
    agent.terminate(Duration::from_secs(20));
    drop(filler);
    eprintln!(
        "{produced} points produced = {delivered} delivered + {lost} dropped; the collector shows \
         {at_collector:?} dropped ({dropped_before_restart} before the restart); disk free at the \
         collector's start {free_at_collector_start} B, after draining {freed} B"
    );
    assert!(
        dropped_before_restart > 0,
        "nothing was dropped before the restart"
    );
    assert!(
        settled.is_some(),
        "the dropped count at the collector ({at_collector:?}) never equalled the {lost} points \
         that never arrived"
    );
    let accepted = Accepted::read(&ledger);
    assert!(
        accepted.duplicates.is_empty(),
        "batches stored twice: {:?}",
        accepted.duplicates
    );
}
