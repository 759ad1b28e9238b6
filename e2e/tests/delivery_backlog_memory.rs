//! Issue #3: the agent's memory at start-up does not grow with the backlog on disk. An agent
//! started on a buffer holding 200 MB of unsent batches, with no collector to send them to,
//! holds about as much memory as one started on an empty buffer.

use dozor_testkit::{free_port, rss_kib, start_agent, wait_for};
use std::path::Path;
use std::time::Duration;

const RECORD: usize = 100 * 1024;
const RECORDS: usize = 2_000;

fn config(dir: &Path, name: &str, dead: u16) -> String {
    format!(
        "agent:\n  interval: 1s\nresource:\n  instance_id: {name}\n\
         exporters:\n  otlp:\n    endpoints: [\"http://127.0.0.1:{dead}\"]\n\
         \x20   buffer:\n      path: {}\n      max_bytes: 1073741824\n\
         integrations:\n  host:\n    enabled: false\n  demo:\n    enabled: true\n    series: 10\n",
        dir.join(format!("{name}-buffer")).display()
    )
}

/// Starts the agent, waits until its buffer is open and it has tried to send, and returns its
/// largest RSS over the next three seconds.
fn peak_rss(dir: &Path, name: &str, dead: u16) -> (u64, String) {
    let mut agent = start_agent(dir, name, &config(dir, name, dead));
    wait_for(Duration::from_secs(60), || {
        agent.output().contains("Batch appended").then_some(())
    })
    .unwrap_or_else(|| panic!("{name} did not start:\n{}", agent.output()));
    let mut peak = 0;
    for _ in 0..30 {
        peak = peak.max(rss_kib(agent.child.id()));
        std::thread::sleep(Duration::from_millis(100));
    }
    agent.kill();
    (peak, agent.output())
}

#[test]
fn memory_does_not_grow_with_the_backlog() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let dead = free_port();
    {
        let mut buffer = dozor_buffer::Buffer::open(
            d.join("backlog-buffer"),
            dozor_buffer::Options {
                max_bytes: 1 << 30,
                ..dozor_buffer::Options::default()
            },
        )
        .unwrap();
        let payload = vec![0x5au8; RECORD];
        for _ in 0..RECORDS {
            buffer.append(&payload, 1000).unwrap();
        }
    }
    let (empty, _) = peak_rss(d, "empty", dead);
    let (backlog, log) = peak_rss(d, "backlog", dead);
    eprintln!(
        "agent RSS: {empty} KiB on an empty buffer, {backlog} KiB on {} MB of backlog",
        RECORD * RECORDS / 1_000_000
    );
    assert!(
        log.contains("Buffer opened"),
        "no buffer line in the log:\n{log}"
    );
    assert!(
        backlog < empty + 16 * 1024,
        "RSS grew with the backlog: {empty} KiB empty, {backlog} KiB with 200 MB on disk"
    );
}
