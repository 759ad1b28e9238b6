//! Issue #3: the agent killed with SIGKILL at random moments while it collects, appends and
//! sends, 20 rounds. Each time it restarts, its buffer opens, and in the end every batch it
//! appended reached the collector exactly once: nothing unacknowledged was lost, nothing was
//! stored twice.
//!
//! The kill moments come from a seed printed at the start (`DOZOR_E2E_SEED` replays a run).

use dozor_e2e::delivery::{Accepted, appended, missing, pending_on_disk};
use dozor_testkit::{Collector, start_agent, wait_for};
use std::time::Duration;

const ROUNDS: usize = 20;

/// xorshift64*: enough randomness for kill moments, reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn an_agent_killed_at_random_moments_loses_and_doubles_nothing() {
    let seed = std::env::var("DOZOR_E2E_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    eprintln!("DOZOR_E2E_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ledger = d.join("ledger");
    let collector = Collector::start(
        d,
        &format!(
            "delivery:\n  ledger_path: {}\n  ledger_max_bytes: 1073741824\n",
            ledger.display()
        ),
    );
    let buffer = d.join("buffer");
    let config = format!(
        "agent:\n  interval: 200ms\n  timeout: 1s\nresource:\n  instance_id: kill-agent\n\
         exporters:\n  otlp:\n    endpoints: [\"http://127.0.0.1:{}\"]\n    flush_interval: 100ms\n\
         \x20   buffer:\n      path: {}\n      sync: never\n\
         integrations:\n  host:\n    enabled: false\n  demo:\n    enabled: true\n    series: 500\n",
        collector.grpc,
        buffer.display()
    );
    let log = d.join("agent.log");
    for round in 0..ROUNDS {
        let mut agent = start_agent(d, "agent", &config);
        let before = appended(&[&log]).len();
        // Wait for this round's first append, then kill at a random moment 0–1.5 s later.
        wait_for(Duration::from_secs(20), || {
            (appended(&[&log]).len() > before).then_some(())
        })
        .unwrap_or_else(|| {
            panic!(
                "round {round}: the agent did not start:\n{}",
                agent.output()
            )
        });
        std::thread::sleep(Duration::from_millis(rng.next() % 1500));
        assert!(
            agent.child.try_wait().ok().flatten().is_none(),
            "round {round}: the agent exited by itself:\n{}",
            agent.output()
        );
        agent.kill();
    }

    // A last start delivers what the killed rounds left behind.
    let mut agent = start_agent(d, "agent", &config);
    let delivered = wait_for(Duration::from_secs(90), || {
        let all = appended(&[&log]);
        let settled = &all[..all.len().saturating_sub(3)];
        missing(settled, &Accepted::read(&ledger).of("kill-agent"))
            .is_empty()
            .then_some(())
    });
    assert!(agent.terminate(Duration::from_secs(20)).is_some());
    let all = appended(&[&log]);
    let accepted = Accepted::read(&ledger);
    let on_disk = pending_on_disk(&buffer);
    let lost: Vec<_> = missing(&all, &accepted.of("kill-agent"))
        .into_iter()
        .filter(|b| !on_disk.contains(&b.seq))
        .collect();
    let streams: std::collections::BTreeSet<_> = all.iter().map(|b| b.stream.clone()).collect();
    eprintln!(
        "{} batches appended over {} runs in {} stream(s); {} accepted; {} left on disk",
        all.len(),
        ROUNDS + 1,
        streams.len(),
        accepted.of("kill-agent").len(),
        on_disk.len()
    );
    assert!(
        delivered.is_some() && lost.is_empty(),
        "{} of {} appended batches never arrived (seed {seed}): {:?}",
        lost.len(),
        all.len(),
        &lost[..lost.len().min(10)]
    );
    assert!(
        accepted.duplicates.is_empty(),
        "stored twice (seed {seed}): {:?}",
        accepted.duplicates
    );
}
