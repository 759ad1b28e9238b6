//! The integration at run time: every flow's stages read in parallel, reconciled, reported as
//! metrics and lost-key events, and the state saved.
//!
//! Events go to the logs outbox before the state is saved: the state marks a key reported only
//! once its event is durably in the outbox (a crash in between repeats events rather than
//! losing them), and an event the outbox refused is taken back and tried again next run.
//! Without an outbox (`collect --once`, or the exporter disabled) events are only logged and
//! the state is kept in memory, never saved: nothing is marked reported on disk, so the agent
//! that does export still reports those keys.

use super::events::{LostEvent, SCOPE};
use super::reconcile::{self, Fetch, FlowState, Micros, Outcome, Params, StageDelta};
use super::{Broken, Config, Source, StageConfig, StageError, default_state_dir, my, pg, state};
use crate::integrations::{Integration, IntegrationError, Sources};
use crate::sink::{AppendError, LogSink};
use dozor_metrics::catalogue::flow as m;
use dozor_metrics::sample::Recorder;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tracing::{error, info, warn};

/// Lost keys logged one by one per flow and run; beyond it one line gives the number (the
/// log records sent have every one).
const MAX_LOGGED_PER_RUN: usize = 100;

/// One configured stage at run time.
struct Stage {
    name: String,
    sla: Duration,
    source: Box<dyn Source>,
}

/// One configured flow at run time.
struct Flow {
    name: String,
    stages: Vec<Stage>,
    params: Params,
    max_rows: usize,
    state_path: PathBuf,
    /// Loaded on the first run.
    state: Option<FlowState>,
    last: Outcome,
}

/// The integration: every configured flow, read on one schedule.
pub struct FlowIntegration {
    flows: Vec<Flow>,
    /// Where events go; `None`: logged only, and the state is not saved.
    outbox: Option<Arc<dyn LogSink>>,
    /// What went wrong in the last run, one message per stage.
    errors: Vec<String>,
    /// The baseline run is done.
    started: bool,
}

impl FlowIntegration {
    /// Every flow of `config`, with PostgreSQL sources whose connect and query timeouts fit in
    /// `timeout`, sending events through `outbox`.
    pub fn new(config: &Config, timeout: Duration, outbox: Option<Arc<dyn LogSink>>) -> Self {
        Self::with_sources(config, outbox, |stage| {
            let source = if stage.dsn.is_mysql() {
                my::MySource::new(&stage.dsn, &stage.query, timeout)
                    .map(|s| Box::new(s) as Box<dyn Source>)
            } else {
                pg::PgSource::new(&stage.dsn, &stage.query, timeout)
                    .map(|s| Box::new(s) as Box<dyn Source>)
            };
            source.unwrap_or_else(|e| Box::new(Broken(e.to_string())))
        })
    }

    /// Every flow of `config`, reading stages through `source` (tests inject their own).
    pub fn with_sources(
        config: &Config,
        outbox: Option<Arc<dyn LogSink>>,
        mut source: impl FnMut(&StageConfig) -> Box<dyn Source>,
    ) -> Self {
        let dir = config.state_dir.clone().unwrap_or_else(default_state_dir);
        let flows = config
            .flows
            .iter()
            .map(|f| Flow {
                name: f.name.clone(),
                stages: f
                    .stages
                    .iter()
                    .map(|s| Stage {
                        name: s.name.clone(),
                        sla: s.sla.map_or(Duration::ZERO, |d| d.0),
                        source: source(s),
                    })
                    .collect(),
                params: Params {
                    window: micros(f.window.0),
                    overlap: micros(f.overlap.0),
                    slas: f
                        .stages
                        .iter()
                        .map(|s| s.sla.map_or(0, |d| micros(d.0)))
                        .collect(),
                    max_keys: f.max_keys_in_flight,
                },
                max_rows: f.max_rows_per_query,
                state_path: state::path(&dir, &f.name),
                state: None,
                last: Outcome::default(),
            })
            .collect();
        FlowIntegration {
            flows,
            outbox,
            errors: Vec::new(),
            started: false,
        }
    }

    /// The error messages of the last run, one per stage that could not be read.
    #[cfg(test)]
    pub fn last_errors(&self) -> &[String] {
        &self.errors
    }
}

impl Drop for FlowIntegration {
    /// A blocking PostgreSQL client drives its own runtime to say goodbye to the server, which
    /// panics on a thread that runs async tasks (the scheduler drops idle integrations there
    /// at shutdown): drop the flows, and their clients, on a thread of their own then.
    fn drop(&mut self) {
        let flows = std::mem::take(&mut self.flows);
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::spawn(move || drop(flows));
        }
    }
}

fn micros(d: Duration) -> Micros {
    d.as_micros().min(i64::MAX as u128) as Micros
}

impl Integration for FlowIntegration {
    fn name(&self) -> &str {
        "flow"
    }

    /// The first run only publishes a baseline, so `collect --once` reads twice.
    fn needs_two_samples(&self) -> bool {
        true
    }

    fn collect(&mut self, recorder: &mut Recorder) -> Result<(), IntegrationError> {
        let now = pg::micros(SystemTime::now());
        if !self.started {
            // The first run after a start publishes the saved counters (0 for a new flow) and
            // reads nothing: a new series whose first value was 3 would hide those 3 losses
            // from `increase()`.
            self.started = true;
            for flow in &mut self.flows {
                let state = load_state(flow);
                flow.last.stages = state
                    .stages
                    .iter()
                    .map(|s| {
                        let (in_flight, oldest_in_flight) = reconcile::in_flight(s, now);
                        StageDelta {
                            in_flight,
                            oldest_in_flight,
                            ..StageDelta::default()
                        }
                    })
                    .collect();
                flow.state = Some(state);
                record(flow, recorder);
            }
            if self.outbox.is_none() {
                info!(
                    "No logs outbox (collect --once, or the exporter disabled): lost orders are logged only, and flow state is not saved."
                );
            }
            return Ok(());
        }
        // Every stage of every flow at once: a run takes as long as the slowest query.
        let results: Vec<Vec<Result<Fetch, StageError>>> = std::thread::scope(|scope| {
            let handles: Vec<Vec<_>> = self
                .flows
                .iter_mut()
                .map(|flow| {
                    let state = flow.state.as_ref().expect("loaded above");
                    let (params, limit) = (&flow.params, flow.max_rows);
                    flow.stages
                        .iter_mut()
                        .zip(&state.stages)
                        .map(|(stage, st)| {
                            let since = reconcile::since(st, now, params);
                            let source = &mut stage.source;
                            scope.spawn(move || {
                                source.fetch(since, limit).map(|(rows, queried_at)| Fetch {
                                    capped: rows.len() >= limit,
                                    rows,
                                    queried_at,
                                })
                            })
                        })
                        .collect()
                })
                .collect();
            handles
                .into_iter()
                .map(|hs| {
                    hs.into_iter()
                        .map(|h| {
                            h.join().unwrap_or_else(|_| {
                                Err(StageError::Query("the query thread panicked".into()))
                            })
                        })
                        .collect()
                })
                .collect()
        });

        let mut sources = Sources::new("flow");
        self.errors.clear();
        for (flow, results) in self.flows.iter_mut().zip(results) {
            let mut fetches = Vec::with_capacity(results.len());
            for (j, result) in results.into_iter().enumerate() {
                let source = format!("{}/{}", flow.name, flow.stages[j].name);
                match result {
                    Ok(f) => {
                        sources.note(&source, Ok(()));
                        fetches.push(Some(f));
                    }
                    Err(e) => {
                        let stage = &flow.stages[j];
                        let message = format!(
                            "flow \"{}\", stage \"{}\" ({}): {e}",
                            flow.name,
                            stage.name,
                            stage.source.describe()
                        );
                        warn!(flow = %flow.name, stage = %stage.name, error = %message, "Flow stage not read.");
                        let error = IntegrationError::new(e.kind(), message.clone());
                        sources.note(&source, Err(error));
                        self.errors.push(message);
                        fetches.push(None);
                    }
                }
            }
            let state = flow.state.as_mut().expect("loaded above");
            let mut outcome = reconcile::apply(state, &fetches, now, &flow.params);
            for &i in &outcome.stalled {
                let message = format!(
                    "flow \"{}\", stage \"{}\": more than max_rows_per_query ({}) rows within overlap of the last row read, so reading cannot advance; raise max_rows_per_query or lower overlap",
                    flow.name, flow.stages[i].name, flow.max_rows
                );
                warn!(flow = %flow.name, stage = %flow.stages[i].name, error = %message, "Flow stage not advancing.");
                let source = format!("{}/{}", flow.name, flow.stages[i].name);
                sources.note(
                    &source,
                    Err(IntegrationError::new("config", message.clone())),
                );
                self.errors.push(message);
            }
            state.counts.untracked += outcome.untracked;
            if outcome.untracked > 0 {
                warn!(flow = %flow.name, keys = outcome.untracked, max_keys_in_flight = flow.params.max_keys, "Flow keys not tracked: max_keys_in_flight reached.");
            }
            let events: Vec<LostEvent> = outcome
                .lost
                .iter()
                .map(|lost| {
                    LostEvent::new(
                        &flow.name,
                        &flow.stages[lost.stage].name,
                        &flow.stages[lost.stage + 1].name,
                        &lost.key,
                        lost.seen_at,
                        now,
                    )
                })
                .collect();
            log_events(&flow.name, &events);
            let Some(outbox) = &self.outbox else {
                flow.last = outcome;
                record(flow, recorder);
                continue;
            };
            let (written, failure) = append_events(outbox.as_ref(), &events, now);
            state.counts.events_written += written as u64;
            if let Some(e) = failure {
                let unsent = outcome.lost.split_off(written);
                state.counts.events_failed += unsent.len() as u64;
                reconcile::unreport(state, &mut outcome, &unsent, now);
                warn!(flow = %flow.name, events = unsent.len(), error = %e, "Lost-order events not written to the logs outbox; they stay unreported and are tried again next run.");
            }
            // After the events: a crash in between repeats events rather than losing them.
            if let Err(e) = state::save(&flow.state_path, &flow.name, state) {
                let message = format!(
                    "flow \"{}\": cannot write the state file {}: {e}; check integrations.flow.state_dir",
                    flow.name,
                    flow.state_path.display()
                );
                error!(flow = %flow.name, error = %message, "Flow state not saved.");
                sources.fail(IntegrationError::new("io", message));
            }
            flow.last = outcome;
            record(flow, recorder);
        }
        sources.finish(recorder)
    }
}

/// Logs each event at WARN (at most [`MAX_LOGGED_PER_RUN`], then their number).
fn log_events(flow: &str, events: &[LostEvent]) {
    for event in events.iter().take(MAX_LOGGED_PER_RUN) {
        warn!(
            target: "dozor_agent::flow::lost",
            flow = %event.flow,
            stage = %event.stage,
            next_stage = %event.next_stage,
            key = %event.key,
            event_id = %event.id,
            age_seconds = event.age_seconds,
            seen_at = %event.seen_at,
            "Order lost between stages."
        );
    }
    if events.len() > MAX_LOGGED_PER_RUN {
        warn!(
            target: "dozor_agent::flow::lost",
            flow = %flow,
            more = events.len() - MAX_LOGGED_PER_RUN,
            "More orders lost than logged one by one; all are sent as log records."
        );
    }
}

/// Appends `events` to the outbox, found lost at `now`, in requests of at most the outbox's
/// batch size. Returns how many, from the first, are durably in it, and the error that stopped
/// the rest.
fn append_events(
    outbox: &dyn LogSink,
    events: &[LostEvent],
    now: Micros,
) -> (usize, Option<AppendError>) {
    let time = u64::try_from(now).unwrap_or(0) * 1000;
    let mut written = 0;
    for chunk in events.chunks(outbox.max_batch_records()) {
        let records = chunk.iter().map(|e| e.to_log_record(time)).collect();
        if let Err(e) = outbox.append(SCOPE, records) {
            return (written, Some(e));
        }
        written += chunk.len();
    }
    (written, None)
}

/// The flow's saved state; a file that cannot be read is set aside (`.bad`) and state starts
/// anew, which may report lost keys a second time: said loudly.
fn load_state(flow: &Flow) -> FlowState {
    let names: Vec<&str> = flow.stages.iter().map(|s| s.name.as_str()).collect();
    match state::load(&flow.state_path, &flow.name, &names) {
        Ok(s) => s,
        Err(e) => {
            let mut aside = flow.state_path.as_os_str().to_owned();
            aside.push(".bad");
            let _ = std::fs::rename(&flow.state_path, Path::new(&aside));
            error!(flow = %flow.name, path = %flow.state_path.display(), error = %e, "Flow state unreadable, set aside; starting anew (lost keys may be reported again).");
            FlowState::new(&names)
        }
    }
}

fn record(flow: &Flow, r: &mut Recorder) {
    let n = flow.stages.len();
    let Some(state) = &flow.state else { return };
    for (i, stage) in flow.stages.iter().enumerate() {
        let labels = [flow.name.as_str(), stage.name.as_str()];
        let t = &state.stages[i].totals;
        let since = nanos(state.stages[i].created);
        r.record_since(&m::ENTERED, t.entered as f64, &labels, since);
        if i + 1 == n {
            continue;
        }
        let last = flow
            .last
            .stages
            .get(i)
            .cloned()
            .unwrap_or(StageDelta::default());
        r.record_since(&m::PASSED, t.passed as f64, &labels, since);
        r.record_since(&m::LOST, t.lost as f64, &labels, since);
        r.record_since(&m::RECOVERED, t.recovered as f64, &labels, since);
        r.record(&m::IN_FLIGHT, last.in_flight as f64, &labels);
        r.record(
            &m::OLDEST_IN_FLIGHT_AGE,
            last.oldest_in_flight as f64 / 1e6,
            &labels,
        );
        r.record(&m::SLA, stage.sla.as_secs_f64(), &labels);
    }
    let labels = [flow.name.as_str()];
    let (counts, since) = (&state.counts, nanos(state.created));
    r.record_since(&m::UNTRACKED, counts.untracked as f64, &labels, since);
    r.record_since(
        &m::EVENTS_WRITTEN,
        counts.events_written as f64,
        &labels,
        since,
    );
    r.record_since(
        &m::EVENTS_FAILED,
        counts.events_failed as f64,
        &labels,
        since,
    );
}

/// A counter's start time, Unix nanoseconds, from microseconds.
fn nanos(us: Option<Micros>) -> Option<u64> {
    us.and_then(|us| u64::try_from(us).ok()).map(|us| us * 1000)
}
