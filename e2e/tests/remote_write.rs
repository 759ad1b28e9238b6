//! Issue #16, end to end: three real agents send a counter every second through real
//! collectors, whose remote_write exporters fill a real VictoriaMetrics and a real Prometheus
//! 2.42 (remote-write receiver with an out-of-order window). Afterwards the raw samples in both
//! stores hold every run of every agent's counter exactly once, with the value the agent
//! produced:
//!
//! - the collector killed for [`OUTAGE`] and restarted (its outboxes on disk, the agents'
//!   buffers holding the rest);
//! - VictoriaMetrics stopped for [`OUTAGE`] and restarted (the collector's outbox holds it);
//! - two collectors in the agents' endpoint list, the first killed mid-run (the agents fail over
//!   to the second) and brought back with its outbox: the store has every sample once;
//! - and what the pull endpoint served (Prometheus scraping `/metrics`) is what remote_write
//!   stored, value for value.
//!
//! Ground truth: the `demo` integration's counter, whose run `n` reports `n` (its contract,
//! unit-tested in `agent/src/integrations/demo.rs`), so every run from 1 up must be in the store
//! once, in time order, whatever the collectors say. Samples are read back raw
//! (`dozor_e2e::stored`): VictoriaMetrics' `/api/v1/export`, Prometheus' `[range]` selector.

use dozor_e2e::delivery::{Accepted, appended, metric_sum, missing};
use dozor_e2e::stored::{self, Series, demo_counter_problems, longest_step, within};
use dozor_testkit::{
    Collector, Proc, Prometheus, VictoriaMetrics, http_get, start_agent, wait_for,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long the collector, or the store, is away (the figure).
const OUTAGE: Duration = Duration::from_secs(60);
/// Series of the demo counter per agent.
const SERIES: u32 = 2;
/// The Prometheus range that covers a whole test.
const HISTORY: &str = "1h";
/// Scrapes of the pull endpoint compared with what remote_write stored.
const SCRAPES: usize = 20;
/// Longest wait for the stores to catch up after an outage.
const CATCH_UP: Duration = Duration::from_secs(240);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// The two stores of one test: VictoriaMetrics, and Prometheus as a remote-write receiver that
/// also scrapes the collectors' pull endpoints (those series get `source="pull"`, so they do
/// not mix with the pushed ones).
struct Stores {
    vm: VictoriaMetrics,
    prom: Prometheus,
}

impl Stores {
    /// `vm_flags`: extra VictoriaMetrics flags; `scrape`: the `/metrics` addresses to scrape.
    fn start(dir: &Path, vm_flags: &[&str], scrape: &[&str]) -> Stores {
        let vm = VictoriaMetrics::start_with(&dir.join("vm"), vm_flags);
        let targets: Vec<String> = scrape.iter().map(|a| format!("'{a}'")).collect();
        let prom_dir = dir.join("prometheus");
        std::fs::create_dir_all(&prom_dir).expect("creating the Prometheus directory");
        let prom = Prometheus::start_with(
            &prom_dir,
            &format!(
                "global:\n  scrape_interval: 1s\n\
                 storage:\n  tsdb:\n    out_of_order_time_window: 1h\n\
                 scrape_configs:\n  - job_name: pull\n    honor_labels: true\n\
                 \x20   static_configs:\n      - targets: [{}]\n\
                 \x20   metric_relabel_configs:\n      - target_label: source\n        replacement: pull\n",
                targets.join(", ")
            ),
            &["--web.enable-remote-write-receiver"],
        );
        Stores { vm, prom }
    }

    /// `exporters.remote_write` (under `exporters:`) to both stores, outboxes in `dir`.
    fn remote_write(&self, dir: &Path) -> String {
        let entry = |url: String, outbox: &str| {
            format!(
                "    - url: {url}\n      outbox:\n        path: {}\n      batch:\n        flush_interval: 200ms\n",
                dir.join(outbox).display()
            )
        };
        format!(
            "  remote_write:\n{}{}",
            entry(format!("http://{}/api/v1/write", self.vm.addr), "outbox-vm"),
            entry(
                format!("http://{}/api/v1/write", self.prom.addr),
                "outbox-prometheus"
            ),
        )
    }

    /// Every demo series of `agent`, pushed, from each store: (store, series).
    fn demo(&self, agent: &str) -> Result<Vec<(&'static str, Series)>, String> {
        let selector = format!("dozor_demo_runs_total{{instance=\"{agent}\",source=\"\"}}");
        let mut out = Vec::new();
        for s in stored::victoria_metrics(&self.vm.addr, &selector)? {
            out.push(("VictoriaMetrics", s));
        }
        for s in stored::prometheus(&self.prom.addr, &selector, HISTORY)? {
            out.push(("Prometheus", s));
        }
        Ok(out)
    }

    /// What is wrong with the demo counters of `agents` in both stores (empty: every run from 1
    /// up is there once, in both, in every series, and each has a sample after `after_ms`).
    fn problems(&self, agents: &[&str], after_ms: i64) -> Vec<String> {
        let mut problems = Vec::new();
        for agent in agents {
            let all = match self.demo(agent) {
                Ok(all) => all,
                Err(e) => {
                    problems.push(format!("{agent}: {e}"));
                    continue;
                }
            };
            for store in ["VictoriaMetrics", "Prometheus"] {
                let n = all.iter().filter(|(s, _)| *s == store).count();
                if n != SERIES as usize {
                    problems.push(format!("{agent}: {n} series in {store}, {SERIES} expected"));
                }
            }
            for (store, s) in &all {
                let at = format!("{agent} series {} in {store}", s.label("series"));
                problems.extend(
                    demo_counter_problems(&s.samples)
                        .into_iter()
                        .map(|p| format!("{at}: {p}")),
                );
                if !s.samples.iter().any(|(t, _)| *t > after_ms) {
                    problems.push(format!("{at}: nothing after {after_ms} ms yet"));
                }
            }
        }
        problems
    }

    /// Waits until [`Stores::problems`] is empty; returns the last problems seen otherwise.
    fn wait_whole(&self, agents: &[&str], after_ms: i64, timeout: Duration) -> Vec<String> {
        let mut last = Vec::new();
        let whole = wait_for(timeout, || {
            last = self.problems(agents, after_ms);
            last.is_empty().then_some(())
        });
        if whole.is_some() { Vec::new() } else { last }
    }

    /// Asserts that the time `from..=to` (ms) is covered in both stores by at least half as
    /// many samples of each agent's series as it had seconds (the agents kept collecting, and
    /// what they collected was stored: [`Stores::problems`] already proved there is no hole).
    fn assert_outage_covered(&self, agents: &[&str], from: i64, to: i64) {
        for agent in agents {
            for (store, s) in self.demo(agent).expect("reading the stores") {
                let n = within(&s.samples, from, to);
                eprintln!(
                    "{agent} series {} in {store}: {} samples, {n} from {from} to {to} ms, longest step {} ms",
                    s.label("series"),
                    s.samples.len(),
                    longest_step(&s.samples)
                );
                let secs = (to - from) / 1000;
                assert!(
                    n as i64 >= secs / 2,
                    "{agent} series {} in {store}: only {n} samples over {secs} s",
                    s.label("series"),
                );
            }
        }
    }
}

fn agent_config(dir: &Path, name: &str, grpc_ports: &[u16]) -> String {
    let endpoints: Vec<String> = grpc_ports
        .iter()
        .map(|p| format!("\"http://127.0.0.1:{p}\""))
        .collect();
    format!(
        "agent:\n  interval: 1s\n  timeout: 1s\nresource:\n  instance_id: {name}\n\
         exporters:\n  otlp:\n    endpoints: [{}]\n    flush_interval: 200ms\n\
         \x20   buffer:\n      path: {}\n\
         integrations:\n  host:\n    enabled: false\n  demo:\n    enabled: true\n    series: {SERIES}\n",
        endpoints.join(", "),
        dir.join(format!("{name}-buffer")).display()
    )
}

fn start_agents(dir: &Path, names: &[&str], grpc_ports: &[u16]) -> Vec<Proc> {
    names
        .iter()
        .map(|n| start_agent(dir, n, &agent_config(dir, n, grpc_ports)))
        .collect()
}

fn stop_agents(agents: &mut [Proc]) {
    for a in agents.iter() {
        a.sigterm();
    }
    for a in agents.iter_mut() {
        assert!(
            a.terminate(Duration::from_secs(20)).is_some(),
            "agent did not stop on SIGTERM"
        );
    }
}

/// A subdirectory of `dir`, created.
fn sub(dir: &Path, name: &str) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).expect("creating a test directory");
    d
}

/// Every demo value Prometheus scraped from the pull endpoint is one that remote_write stored
/// for the same series (same labels, `source` aside), stamped no later than the scrape (plus
/// one scrape interval: a point can arrive between the start of a scrape, which stamps it, and
/// the moment the collector renders it). Waits for [`SCRAPES`] scrapes of each series, and for
/// the stores to have what the last scrapes showed.
fn assert_pull_equals_push(stores: &Stores, agents: &[&str]) {
    let mut problems = Vec::new();
    let equal = wait_for(Duration::from_secs(60), || {
        problems = agents
            .iter()
            .flat_map(|a| pull_problems(stores, a))
            .collect();
        problems.is_empty().then_some(())
    });
    assert!(
        equal.is_some(),
        "the pull endpoint and remote_write disagree: {problems:#?}"
    );
}

/// What [`assert_pull_equals_push`] finds wrong for one agent.
fn pull_problems(stores: &Stores, agent: &str) -> Vec<String> {
    let selector = format!("dozor_demo_runs_total{{instance=\"{agent}\",source=\"pull\"}}");
    let pulled = match stored::prometheus(&stores.prom.addr, &selector, HISTORY) {
        Ok(p) => p,
        Err(e) => return vec![format!("{agent}: {e}")],
    };
    let pushed = match stores.demo(agent) {
        Ok(p) => p,
        Err(e) => return vec![format!("{agent}: {e}")],
    };
    let mut problems = Vec::new();
    if pulled.len() != SERIES as usize {
        problems.push(format!("{agent}: {} series scraped", pulled.len()));
    }
    for p in &pulled {
        let mut labels = p.labels.clone();
        labels.remove("source");
        if p.samples.len() < SCRAPES {
            problems.push(format!("{agent} {labels:?}: {} scrapes", p.samples.len()));
        }
        for store in ["VictoriaMetrics", "Prometheus"] {
            let Some((_, s)) = pushed
                .iter()
                .find(|(st, s)| *st == store && s.labels == labels)
            else {
                problems.push(format!(
                    "{agent}: the scraped series {labels:?} is not in {store}"
                ));
                continue;
            };
            for (scraped_at, v) in &p.samples {
                let stamped = s.samples.iter().find(|(_, x)| x == v).map(|(t, _)| *t);
                if stamped.is_none_or(|t| t > scraped_at + 1000) {
                    problems.push(format!(
                        "{agent} {labels:?}: scraped {v} at {scraped_at} ms; {store} has it at {stamped:?}"
                    ));
                }
            }
        }
    }
    problems
}

/// (a) The collector killed for [`OUTAGE`] while the agents keep collecting, then restarted.
/// And (d): what the pull endpoint served equals what remote_write stored.
#[test]
fn collector_outage_leaves_no_hole_in_either_store() {
    const AGENTS: [&str; 3] = ["rw-outage-a", "rw-outage-b", "rw-outage-c"];
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ports = Collector::free_ports();
    let stores = Stores::start(d, &[], &[&ports.2]);
    let extra = stores.remote_write(d);
    let cdir = sub(d, "collector");
    let mut collector = Collector::start_on(&cdir, ports.clone(), &extra);
    let mut agents = start_agents(d, &AGENTS, &[ports.0]);

    let problems = stores.wait_whole(&AGENTS, now_ms() + 5_000, Duration::from_secs(60));
    assert!(
        problems.is_empty(),
        "the agents' counters did not reach the stores: {problems:#?}\n{}",
        collector.proc.output()
    );

    let down = now_ms();
    collector.kill();
    std::thread::sleep(OUTAGE);
    let up = now_ms();
    let collector = Collector::start_on(&cdir, ports, &extra);

    let problems = stores.wait_whole(&AGENTS, up + 5_000, CATCH_UP);
    assert!(
        problems.is_empty(),
        "after the collector's outage: {problems:#?}\ncollector log:\n{}",
        collector.proc.output()
    );
    stores.assert_outage_covered(&AGENTS, down, up);
    assert_pull_equals_push(&stores, &AGENTS);
    stop_agents(&mut agents);
}

/// (b) VictoriaMetrics stopped for [`OUTAGE`] and restarted on the same data directory; the
/// Prometheus beside it stays up and keeps getting live samples meanwhile.
#[test]
fn store_outage_leaves_no_hole() {
    const AGENTS: [&str; 3] = ["rw-store-a", "rw-store-b", "rw-store-c"];
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ports = Collector::free_ports();
    let mut stores = Stores::start(d, &[], &[&ports.2]);
    let extra = stores.remote_write(d);
    let collector = Collector::start_on(&sub(d, "collector"), ports, &extra);
    let mut agents = start_agents(d, &AGENTS, &[collector.grpc]);

    let problems = stores.wait_whole(&AGENTS, now_ms() + 5_000, Duration::from_secs(60));
    assert!(
        problems.is_empty(),
        "the agents' counters did not reach the stores: {problems:#?}\n{}",
        collector.proc.output()
    );

    let down = now_ms();
    stores.vm.stop();
    std::thread::sleep(OUTAGE);
    let up = now_ms();
    stores.vm.restart();

    let problems = stores.wait_whole(&AGENTS, up + 5_000, CATCH_UP);
    assert!(
        problems.is_empty(),
        "after VictoriaMetrics' outage: {problems:#?}\ncollector log:\n{}",
        collector.proc.output()
    );
    stores.assert_outage_covered(&AGENTS, down, up);
    stop_agents(&mut agents);
}

/// (c) Two collectors, both in every agent's endpoint list, sharing nothing but the stores.
/// The first is killed mid-run: the agents fail over to the second. It comes back with its
/// outbox (what it had acknowledged but not yet pushed) and the agents return to it. The
/// stores hold every sample once; the two ledgers together hold every batch the agents
/// appended, and the first collector counts no gap after the failback: the agents tell it,
/// in `dozor-elsewhere`, which batches the second acknowledged (`docs/scaling.md`).
///
/// VictoriaMetrics keeps both copies of a sample written twice, even an identical one
/// (measured on 1.79): a batch that the first collector stored and pushed but could not
/// acknowledge before it died is sent again through the second. Replicas behind one store are
/// therefore run with `-dedup.minScrapeInterval=1ms`, as `docs/scaling.md` says; Prometheus
/// drops an identical sample on its own.
#[test]
fn failover_between_collectors_stores_every_sample_once() {
    const AGENTS: [&str; 3] = ["rw-failover-a", "rw-failover-b", "rw-failover-c"];
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (first_ports, second_ports) = (Collector::free_ports(), Collector::free_ports());
    let stores = Stores::start(d, &["-dedup.minScrapeInterval=1ms"], &[]);
    let (first_dir, second_dir) = (sub(d, "first"), sub(d, "second"));
    let config = |dir: &Path| {
        format!(
            "{}delivery:\n  ledger_path: {}\n  ledger_max_bytes: 1073741824\n",
            stores.remote_write(dir),
            dir.join("ledger").display()
        )
    };
    let mut first = Collector::start_on(&first_dir, first_ports.clone(), &config(&first_dir));
    let second = Collector::start_on(&second_dir, second_ports.clone(), &config(&second_dir));
    let mut agents = start_agents(d, &AGENTS, &[first_ports.0, second_ports.0]);
    let accepted = |dir: &Path| Accepted::read(&dir.join("ledger"));
    let batches_of = |dir: &Path| -> Vec<usize> {
        let a = accepted(dir);
        AGENTS.iter().map(|n| a.of(n).len()).collect()
    };

    let problems = stores.wait_whole(&AGENTS, now_ms() + 5_000, Duration::from_secs(60));
    assert!(problems.is_empty(), "before the failover: {problems:#?}");
    assert!(
        batches_of(&first_dir).iter().all(|n| *n > 0),
        "the agents did not start on the first endpoint: {:?}",
        batches_of(&first_dir)
    );

    first.kill();
    let killed = now_ms();
    wait_for(Duration::from_secs(60), || {
        batches_of(&second_dir)
            .iter()
            .all(|n| *n >= 10)
            .then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "the agents did not fail over: {:?}\n{}",
            batches_of(&second_dir),
            second.proc.output()
        )
    });
    let before_return = batches_of(&first_dir);
    let first = Collector::start_on(&first_dir, first_ports, &config(&first_dir));
    let back = now_ms();
    // The agents return to the first endpoint once their circuit breaker lets a probe through.
    let returned = wait_for(Duration::from_secs(60), || {
        let now = batches_of(&first_dir);
        now.iter()
            .zip(&before_return)
            .all(|(n, b)| n > b)
            .then_some(())
    });

    let problems = stores.wait_whole(&AGENTS, back + 5_000, CATCH_UP);
    assert!(
        problems.is_empty(),
        "after the failover: {problems:#?}\nfirst collector:\n{}\nsecond collector:\n{}",
        first.proc.output(),
        second.proc.output()
    );
    stores.assert_outage_covered(&AGENTS, killed, back);
    stop_agents(&mut agents);

    // Sequence tracking across replicas: the union of the ledgers is the whole stream; a batch
    // in both was accepted twice (stored, then not acknowledged before the kill).
    let (a, b) = (accepted(&first_dir), accepted(&second_dir));
    for name in AGENTS {
        let all = appended(&[&d.join(format!("{name}.log"))]);
        let mut union = a.of(name);
        let in_both = b
            .of(name)
            .into_iter()
            .filter(|(k, p)| union.insert(k.clone(), *p).is_some())
            .count();
        let settled = &all[..all.len().saturating_sub(2)];
        let lost = missing(settled, &union);
        eprintln!(
            "{name}: {} batches appended; first collector {}, second {}, accepted by both {in_both}",
            all.len(),
            a.of(name).len(),
            b.of(name).len()
        );
        assert!(
            lost.is_empty(),
            "{name}: batches in neither ledger: {lost:?}"
        );
    }
    let counted = |c: &Collector, family: &str| {
        let (_, body) = http_get(&c.metrics, "/metrics").expect("scraping a collector");
        metric_sum(&body, &format!("{family}{{"), &[])
    };
    let gaps = |c: &Collector| counted(c, "dozor_collector_delivery_missing_batches_total");
    let elsewhere = |c: &Collector| counted(c, "dozor_collector_delivery_elsewhere_batches_total");
    eprintln!(
        "agents returned to the first collector: {}; batches each collector counts as missing: first {}, second {}; as received elsewhere: first {}, second {}",
        returned.is_some(),
        gaps(&first),
        gaps(&second),
        elsewhere(&first),
        elsewhere(&second)
    );
    // The failback is no gap: the agents told the first collector (`dozor-elsewhere`) which
    // batches the second acknowledged while it was away.
    assert!(
        returned.is_some(),
        "the agents did not return to the first collector"
    );
    assert_eq!(
        gaps(&first),
        0.0,
        "the first collector counts batches the second took as missing\n{}",
        first.proc.output()
    );
    assert!(
        elsewhere(&first) > 0.0,
        "the first collector was told of no batch received elsewhere"
    );
}
