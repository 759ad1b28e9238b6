//! The integration at run time: every flow's stages read in parallel, reconciled, reported as
//! metrics and lost-key events, and the state saved.

use super::events::{EventSink, FileSink, LostEvent};
use super::reconcile::{self, Fetch, FlowState, Micros, Outcome, Params, StageDelta};
use super::{Broken, Config, Source, StageConfig, StageError, default_state_dir, my, pg, state};
use crate::integrations::{Integration, IntegrationError};
use dozor_metrics::catalogue::flow as m;
use dozor_metrics::sample::Recorder;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tracing::{error, warn};

/// Lost keys logged one by one per flow and run; beyond it one line gives the number (the
/// event file has every one).
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
    untracked: u64,
    events_written: u64,
    events_failed: u64,
}

/// The integration: every configured flow, read on one schedule.
pub struct FlowIntegration {
    flows: Vec<Flow>,
    sink: Box<dyn EventSink>,
    /// What went wrong in the last run, one message per stage.
    errors: Vec<String>,
    /// The baseline run is done.
    started: bool,
}

impl FlowIntegration {
    /// Every flow of `config`, with PostgreSQL sources whose connect and query timeouts fit in
    /// `timeout`.
    pub fn new(config: &Config, timeout: Duration) -> Self {
        Self::with_sources(config, |stage| {
            let source = if my::handles(&stage.dsn) {
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
                untracked: 0,
                events_written: 0,
                events_failed: 0,
            })
            .collect();
        FlowIntegration {
            flows,
            sink: Box::new(FileSink::new(
                dir.join("events.jsonl"),
                config.events_max_bytes,
            )),
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

fn micros(d: Duration) -> Micros {
    d.as_micros().min(i64::MAX as u128) as Micros
}

impl Integration for FlowIntegration {
    fn name(&self) -> &'static str {
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
            recorder.record(&m::EVENTS_ROTATED, self.sink.rotated() as f64, &[]);
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

        let mut first_error = None;
        self.errors.clear();
        for (flow, results) in self.flows.iter_mut().zip(results) {
            let mut fetches = Vec::with_capacity(results.len());
            for (j, result) in results.into_iter().enumerate() {
                match result {
                    Ok(f) => fetches.push(Some(f)),
                    Err(e) => {
                        let stage = &flow.stages[j];
                        let message = format!(
                            "flow \"{}\", stage \"{}\" ({}): {e}",
                            flow.name,
                            stage.name,
                            stage.source.describe()
                        );
                        warn!(flow = %flow.name, stage = %stage.name, error = %message, "Flow stage not read.");
                        first_error.get_or_insert(IntegrationError::new(e.kind(), message.clone()));
                        self.errors.push(message);
                        fetches.push(None);
                    }
                }
            }
            let state = flow.state.as_mut().expect("loaded above");
            let outcome = reconcile::apply(state, &fetches, now, &flow.params);
            for &i in &outcome.stalled {
                let message = format!(
                    "flow \"{}\", stage \"{}\": more than max_rows_per_query ({}) rows within overlap of the last row read, so reading cannot advance; raise max_rows_per_query or lower overlap",
                    flow.name, flow.stages[i].name, flow.max_rows
                );
                warn!(flow = %flow.name, stage = %flow.stages[i].name, error = %message, "Flow stage not advancing.");
                first_error.get_or_insert(IntegrationError::new("config", message.clone()));
                self.errors.push(message);
            }
            flow.untracked += outcome.untracked;
            if outcome.untracked > 0 {
                warn!(flow = %flow.name, keys = outcome.untracked, max_keys_in_flight = flow.params.max_keys, "Flow keys not tracked: max_keys_in_flight reached.");
            }
            let mut failed: Option<(u64, std::io::Error)> = None;
            for (n, lost) in outcome.lost.iter().enumerate() {
                let event = LostEvent::new(
                    &flow.name,
                    &flow.stages[lost.stage].name,
                    &flow.stages[lost.stage + 1].name,
                    &lost.key,
                    lost.seen_at,
                    now,
                );
                if n < MAX_LOGGED_PER_RUN {
                    warn!(
                        target: "dozor_agent::flow::lost",
                        flow = %event.flow,
                        stage = %event.stage,
                        next_stage = %event.next_stage,
                        key = %event.key,
                        age_seconds = event.age_seconds,
                        seen_at = %event.seen_at,
                        "Order lost between stages."
                    );
                }
                match self.sink.emit(&event) {
                    Ok(()) => flow.events_written += 1,
                    Err(e) => {
                        flow.events_failed += 1;
                        let count = failed.as_ref().map_or(0, |(c, _)| *c) + 1;
                        let first = failed.map_or(e, |(_, e)| e);
                        failed = Some((count, first));
                    }
                }
            }
            if outcome.lost.len() > MAX_LOGGED_PER_RUN {
                warn!(
                    target: "dozor_agent::flow::lost",
                    flow = %flow.name,
                    more = outcome.lost.len() - MAX_LOGGED_PER_RUN,
                    "More orders lost than logged one by one; all are in the event file."
                );
            }
            if let Some((count, e)) = failed {
                error!(flow = %flow.name, events = count, error = %e, "Lost-order events not written.");
            }
            // After the events: a crash in between repeats events rather than losing them.
            if let Err(e) = state::save(&flow.state_path, &flow.name, state) {
                let message = format!(
                    "flow \"{}\": cannot write the state file {}: {e}; check integrations.flow.state_dir",
                    flow.name,
                    flow.state_path.display()
                );
                error!(flow = %flow.name, error = %message, "Flow state not saved.");
                first_error.get_or_insert(IntegrationError::new("io", message));
            }
            flow.last = outcome;
            record(flow, recorder);
        }
        recorder.record(&m::EVENTS_ROTATED, self.sink.rotated() as f64, &[]);
        first_error.map_or(Ok(()), Err)
    }
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
        r.record(&m::ENTERED, t.entered as f64, &labels);
        if i + 1 == n {
            continue;
        }
        let last = flow
            .last
            .stages
            .get(i)
            .cloned()
            .unwrap_or(StageDelta::default());
        r.record(&m::PASSED, t.passed as f64, &labels);
        r.record(&m::LOST, t.lost as f64, &labels);
        r.record(&m::RECOVERED, t.recovered as f64, &labels);
        r.record(&m::IN_FLIGHT, last.in_flight as f64, &labels);
        r.record(
            &m::OLDEST_IN_FLIGHT_AGE,
            last.oldest_in_flight as f64 / 1e6,
            &labels,
        );
        r.record(&m::SLA, stage.sla.as_secs_f64(), &labels);
    }
    let labels = [flow.name.as_str()];
    r.record(&m::UNTRACKED, flow.untracked as f64, &labels);
    r.record(&m::EVENTS_WRITTEN, flow.events_written as f64, &labels);
    r.record(&m::EVENTS_FAILED, flow.events_failed as f64, &labels);
}
