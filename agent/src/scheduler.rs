//! Runs every integration on its own interval and timeout, and records the agent's
//! `dozor.agent.scrape.*` metrics around each run (node_exporter's `execute()`).
//!
//! Each run happens on a blocking thread. A run that exceeds its timeout is counted
//! (`error.type="timeout"`) and left to finish in the background; the integration's next runs are
//! skipped (and counted as `error.type="still_running"`) until it returns, so a hanging source
//! never piles up threads and never delays the other integrations. A panicking integration is
//! counted (`error.type="panic"`) and keeps its schedule. When the exporter stops taking
//! batches (its buffer is full under `when_full: pause`), sending blocks and collection
//! pauses; the runs missed meanwhile are counted as `error.type="paused"`.
//!
//! Each run is also published on the admin [`Board`] as it starts and ends (a mutex held for a
//! few field updates), so `dozor-agent status` shows a hung run as it hangs.

use crate::admin::Board;
use crate::admin::snapshot::Finished;
use crate::integrations::{Integration, IntegrationError, Scheduled};
use dozor_metrics::catalogue::agent;
use dozor_metrics::sample::{Recorder, ScopeBatch};
use dozor_metrics::time::now_nanos;
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::warn;

/// The result of one run on the blocking thread.
type RunResult = (Box<dyn Integration>, Recorder, Result<(), IntegrationError>);

/// Per-integration counters the agent reports about itself.
#[derive(Default)]
pub struct ScrapeStats {
    scrapes: u64,
    errors: BTreeMap<&'static str, u64>,
}

impl ScrapeStats {
    /// Records the self-metrics of one run (or skipped run) into `rec`.
    pub fn record(
        &mut self,
        rec: &mut Recorder,
        name: &str,
        duration: Option<Duration>,
        error: Option<&'static str>,
    ) {
        self.scrapes += 1;
        if let Some(kind) = error {
            *self.errors.entry(kind).or_default() += 1;
        }
        if let Some(d) = duration {
            rec.record(&agent::SCRAPE_DURATION, d.as_secs_f64(), &[name]);
        }
        rec.record(&agent::SCRAPES, self.scrapes as f64, &[name]);
        self.report_errors(rec, name);
    }

    /// Counts `n` runs that never happened because collection was paused; they are reported
    /// with the next run.
    pub fn paused(&mut self, n: u64) {
        self.scrapes += n;
        *self.errors.entry("paused").or_default() += n;
    }

    fn report_errors(&self, rec: &mut Recorder, name: &str) {
        for (kind, n) in &self.errors {
            rec.record(&agent::SCRAPE_ERRORS, *n as f64, &[name, kind]);
        }
    }
}

/// Runs one collection synchronously, catching panics. Used by the scheduler and `collect --once`.
pub fn collect_once(
    integration: &mut dyn Integration,
    rec: &mut Recorder,
) -> Result<(), IntegrationError> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| integration.collect(rec))) {
        Ok(result) => result,
        Err(_) => Err(IntegrationError::new("panic", "integration panicked")),
    }
}

/// What a finished run published: its points and each source's result.
pub fn finished<'a>(
    rec: &Recorder,
    duration: Duration,
    error: Option<&'a IntegrationError>,
) -> Finished<'a> {
    let samples = rec.samples();
    Finished {
        duration,
        points: samples.len() as u64,
        sources: samples
            .iter()
            .filter(|s| s.metric.name == agent::SCRAPE_SOURCE_SUCCESS.name)
            .filter_map(|s| Some((s.attributes.get(1)?.1.clone(), s.value == 1.0)))
            .collect(),
        error: error.map(|e| (e.kind, e.message.clone())),
    }
}

/// Spawns one task per integration; batches go to `tx`.
#[cfg(test)]
pub fn spawn_all(
    scheduled: Vec<Scheduled>,
    tx: mpsc::Sender<Vec<ScopeBatch>>,
) -> Vec<JoinHandle<()>> {
    spawn_on(scheduled, tx, Arc::new(Board::new(None, &[])))
}

/// Spawns one task per integration, each registered on `board`; batches go to `tx`.
pub fn spawn_on(
    scheduled: Vec<Scheduled>,
    tx: mpsc::Sender<Vec<ScopeBatch>>,
    board: Arc<Board>,
) -> Vec<JoinHandle<()>> {
    for s in &scheduled {
        board.register(s.integration.name(), s.interval, s.timeout);
    }
    scheduled
        .into_iter()
        .map(|s| tokio::spawn(run(s, tx.clone(), board.clone())))
        .collect()
}

async fn run(s: Scheduled, tx: mpsc::Sender<Vec<ScopeBatch>>, board: Arc<Board>) {
    let name = s.integration.name().to_string();
    let name = name.as_str();
    let scope = format!("dozor.integration.{name}");
    let mut idle: Option<Box<dyn Integration>> = Some(s.integration);
    let mut pending: Option<JoinHandle<RunResult>> = None;
    let mut stats = ScrapeStats::default();
    let mut ticker = tokio::time::interval(s.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        if let Some(handle) = pending.take() {
            if handle.is_finished() {
                if let Ok((integration, _, _)) = handle.await {
                    idle = Some(integration);
                }
                board.run_returned(name);
            } else {
                pending = Some(handle);
            }
        }
        let mut agent_rec = Recorder::new();
        let Some(mut integration) = idle.take() else {
            board.run_skipped(name);
            stats.record(&mut agent_rec, name, None, Some("still_running"));
            warn!(
                integration = name,
                "Integration still running from an earlier run; skipped."
            );
            let blocked = send(&tx, vec![batch("dozor.agent", agent_rec)]).await;
            stats.paused(missed(blocked, s.interval));
            continue;
        };
        let started = Instant::now();
        board.run_started(name);
        let mut handle = tokio::task::spawn_blocking(move || {
            let mut rec = Recorder::new();
            let result = collect_once(integration.as_mut(), &mut rec);
            (integration, rec, result)
        });
        let mut batches = Vec::with_capacity(2);
        match tokio::time::timeout(s.timeout, &mut handle).await {
            Ok(Ok((integration, rec, result))) => {
                idle = Some(integration);
                let elapsed = started.elapsed();
                board.run_finished(name, finished(&rec, elapsed, result.as_ref().err()));
                let error = result.err().map(|e| {
                    warn!(integration = name, error = %e, error.type = e.kind, "Integration run failed.");
                    e.kind
                });
                stats.record(&mut agent_rec, name, Some(elapsed), error);
                batches.push(batch(&scope, rec));
            }
            Ok(Err(join_error)) => {
                // Only reachable if the runtime shuts down: the closure catches panics itself.
                warn!(integration = name, error = %join_error, "Integration task ended abnormally.");
                return;
            }
            Err(_) => {
                warn!(integration = name, timeout = ?s.timeout, "Integration run timed out.");
                board.run_timed_out(name);
                stats.record(
                    &mut agent_rec,
                    name,
                    Some(started.elapsed()),
                    Some("timeout"),
                );
                pending = Some(handle);
            }
        }
        batches.push(batch("dozor.agent", agent_rec));
        let blocked = send(&tx, batches).await;
        stats.paused(missed(blocked, s.interval));
    }
}

/// Ticks of `interval` missed while sending was blocked for `blocked`.
fn missed(blocked: Duration, interval: Duration) -> u64 {
    (blocked.as_nanos() / interval.as_nanos().max(1)) as u64
}

fn batch(scope: &str, mut rec: Recorder) -> ScopeBatch {
    ScopeBatch {
        scope: scope.to_string(),
        time_unix_nano: now_nanos(),
        samples: rec.take(),
    }
}

/// Hands batches to the exporter; returns how long that blocked (long only while the
/// exporter pauses collection).
async fn send(tx: &mpsc::Sender<Vec<ScopeBatch>>, batches: Vec<ScopeBatch>) -> Duration {
    let started = Instant::now();
    // A closed channel means the agent is shutting down.
    let _ = tx.send(batches).await;
    started.elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_missed_while_paused() {
        let ms = Duration::from_millis;
        assert_eq!(missed(ms(0), ms(200)), 0);
        assert_eq!(missed(ms(199), ms(200)), 0);
        assert_eq!(missed(ms(1000), ms(200)), 5);
        assert_eq!(missed(ms(5), Duration::ZERO), 5_000_000);
    }
    use dozor_metrics::catalogue::host;
    use std::time::Duration;

    /// Behaves as its name says on every run.
    struct Fake(&'static str);

    impl Integration for Fake {
        fn name(&self) -> &str {
            self.0
        }
        fn collect(&mut self, rec: &mut Recorder) -> Result<(), IntegrationError> {
            match self.0 {
                "hangs" => std::thread::sleep(Duration::from_secs(3)),
                "fails" => return Err(IntegrationError::new("parse", "bad input")),
                "panics" => panic!("integration bug"),
                _ => {}
            }
            rec.record(&host::UPTIME, 1.0, &[]);
            Ok(())
        }
    }

    /// 100 ms interval; only the hanging one gets a timeout shorter than its run (printing a
    /// panic's backtrace can take longer than 50 ms under test).
    fn scheduled(name: &'static str) -> Scheduled {
        let timeout = if name == "hangs" { 50 } else { 2000 };
        Scheduled {
            integration: Box::new(Fake(name)),
            interval: Duration::from_millis(100),
            timeout: Duration::from_millis(timeout),
        }
    }

    /// The last cumulative value of `dozor.agent.scrape.errors` per (integration, error.type).
    fn errors(batches: &[ScopeBatch]) -> BTreeMap<(String, String), f64> {
        let mut out = BTreeMap::new();
        for s in batches.iter().flat_map(|b| &b.samples) {
            if s.metric.name == agent::SCRAPE_ERRORS.name {
                out.insert(
                    (s.attributes[0].1.clone(), s.attributes[1].1.clone()),
                    s.value,
                );
            }
        }
        out
    }

    /// One failing, one panicking and one hanging integration never stop a healthy one: it keeps
    /// its schedule, and each failure is counted under its own error type.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failing_and_hanging_integrations_do_not_stop_the_others() {
        let (tx, mut rx) = mpsc::channel(1024);
        let board = Arc::new(Board::new(None, &[]));
        let tasks = spawn_on(
            vec![
                scheduled("healthy"),
                scheduled("fails"),
                scheduled("panics"),
                scheduled("hangs"),
            ],
            tx,
            board.clone(),
        );
        tokio::time::sleep(Duration::from_millis(1050)).await;
        for t in &tasks {
            t.abort();
        }
        let mut batches = Vec::new();
        while let Ok(b) = rx.try_recv() {
            batches.extend(b);
        }
        let healthy_runs = batches
            .iter()
            .filter(|b| b.scope == "dozor.integration.healthy" && !b.samples.is_empty())
            .count();
        // About 10 runs are due; the bounds leave room for a loaded CI machine.
        assert!(
            healthy_runs >= 5,
            "healthy integration ran {healthy_runs} times in ~1 s at 100 ms"
        );
        let errors = errors(&batches);
        let get = |i: &str, k: &str| {
            errors
                .get(&(i.to_string(), k.to_string()))
                .copied()
                .unwrap_or(0.0)
        };
        assert!(get("fails", "parse") >= 5.0, "{errors:?}");
        assert!(get("panics", "panic") >= 5.0, "{errors:?}");
        assert_eq!(
            get("hangs", "timeout"),
            1.0,
            "a hung run is counted once: {errors:?}"
        );
        assert!(
            get("hangs", "still_running") >= 4.0,
            "later runs are skipped, not stacked: {errors:?}"
        );
        assert_eq!(get("healthy", "timeout"), 0.0);
        // The board shows each as it is: the hung run as a timeout while it hangs.
        let status = board.status();
        let result = |n: &str| {
            let i = status.integrations.iter().find(|i| i.name == n).unwrap();
            (i.result.clone(), i.error_type.clone())
        };
        assert_eq!(result("healthy"), ("ok".into(), None));
        assert_eq!(result("fails"), ("error".into(), Some("parse".into())));
        assert_eq!(result("panics"), ("error".into(), Some("panic".into())));
        assert_eq!(result("hangs"), ("timeout".into(), Some("timeout".into())));
    }
}
