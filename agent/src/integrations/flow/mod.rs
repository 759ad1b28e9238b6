//! The `flow` integration: order-flow reconciliation. A flow names stages (shop -> MES -> CRM),
//! each a read-only SQL query against that system's own database returning the keys (order ids)
//! seen there and when. Every run reads the rows new since the last run from every stage (in
//! parallel, one connection per stage), and reports per stage the keys that entered, passed on to
//! the next stage, are in flight, and are lost: older than the stage's SLA without reaching the
//! next stage (`dozor.flow.*`). Each newly lost key is also an event (see [`events`]), reported
//! once, also across restarts, thanks to the state file (see [`state`]).
//!
//! [`reconcile`] is the pure logic; [`pg`] reads a PostgreSQL stage, [`my`] a MySQL or MariaDB
//! one: the stages of one flow may be in different kinds of database.

#![allow(dead_code)] // Until the registry and the agent's config name this integration.

mod config;
pub mod events;
pub mod my;
pub mod pg;
pub mod reconcile;
pub mod state;

#[cfg(test)]
mod tests;

#[allow(unused_imports)] // `validate` and `FlowConfig` are for the agent's config, once wired.
pub use config::{Config, FlowConfig, StageConfig, validate};

use super::{Integration, IntegrationError, Scheduled};
use dozor_metrics::catalogue::flow as m;
use dozor_metrics::sample::Recorder;
use events::{EventSink, FileSink, LostEvent};
use reconcile::{Fetch, FlowState, Micros, Outcome, Params, Row, StageDelta};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tracing::{error, warn};

/// Why a stage could not be read. Each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The database could not be reached or refused the connection.
    #[error("{0}; check the stage's dsn and that the database is up")]
    Connect(String),
    /// The query failed (syntax, missing table, permission, timeout).
    #[error("query failed: {0}; try the stage's query with psql against its database")]
    Query(String),
    /// The query does not return the required columns.
    #[error(
        "the query returns columns {0:?}, it must return \"key\" and \"seen_at\": write e.g. SELECT order_id::text AS key, created_at AS seen_at FROM orders WHERE created_at > $1"
    )]
    Columns(Vec<String>),
    /// A required column has a type that cannot be read.
    #[error("column \"{column}\" is of type {found}: {fix}")]
    Type {
        /// `key` or `seen_at`.
        column: &'static str,
        /// The type the query returns.
        found: String,
        /// How to change the query.
        fix: &'static str,
    },
}

impl StageError {
    /// The bounded `error.type` label.
    pub fn kind(&self) -> &'static str {
        match self {
            StageError::Connect(_) => "connect",
            StageError::Query(_) => "query",
            StageError::Columns(_) | StageError::Type { .. } => "config",
        }
    }
}

/// Where a stage's rows come from.
pub trait Source: Send {
    /// Rows with `seen_at` after `since` (unix microseconds), in `seen_at` order, at most `limit`.
    fn fetch(&mut self, since: Micros, limit: usize) -> Result<Vec<Row>, StageError>;

    /// Where it reads from, for messages (`host:port/db`, never a password).
    fn describe(&self) -> String;
}

/// A stage whose source could not even be set up; every run reports why.
struct Broken(String);

impl Source for Broken {
    fn fetch(&mut self, _: Micros, _: usize) -> Result<Vec<Row>, StageError> {
        Err(StageError::Connect(self.0.clone()))
    }

    fn describe(&self) -> String {
        "?".into()
    }
}

/// One configured stage at run time.
struct Stage {
    name: String,
    sla: Duration,
    source: Box<dyn Source>,
}

/// Cumulative counts of one stage since the agent started.
#[derive(Clone, Debug, Default)]
struct Totals {
    entered: u64,
    passed: u64,
    lost: u64,
    recovered: u64,
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
    totals: Vec<Totals>,
    last: Outcome,
    untracked: u64,
    events_written: u64,
    events_failed: u64,
}

/// The integration: every configured flow, read on one schedule.
pub struct FlowIntegration {
    flows: Vec<Flow>,
    sink: Box<dyn EventSink>,
    clock: Box<dyn Fn() -> Micros + Send>,
    /// What went wrong in the last run, one message per stage.
    errors: Vec<String>,
    /// The baseline run is done.
    started: bool,
}

/// The state directory used when `state_dir` is unset: `flow` next to the agent's buffer.
pub fn default_state_dir() -> PathBuf {
    let buffer = crate::config::BufferConfig::default().resolved_path();
    buffer
        .parent()
        .map_or_else(|| PathBuf::from("flow"), |p| p.join("flow"))
}

/// The integration for `config`, as one scheduled entry (none when disabled).
pub fn build(
    config: &Config,
    default_interval: Duration,
    default_timeout: Duration,
) -> Vec<Scheduled> {
    if !config.enabled || config.flows.is_empty() {
        return Vec::new();
    }
    let timeout = config.timeout.map_or(default_timeout, |d| d.0);
    vec![Scheduled {
        integration: Box::new(FlowIntegration::new(config, timeout)),
        interval: config.interval.map_or(default_interval, |d| d.0),
        timeout,
    }]
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
                totals: vec![Totals::default(); f.stages.len()],
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
            clock: Box::new(|| pg::micros(SystemTime::now())),
            errors: Vec::new(),
            started: false,
        }
    }

    /// The error messages of the last run, one per stage that could not be read.
    pub fn last_errors(&self) -> &[String] {
        &self.errors
    }

    /// Replaces the clock (tests).
    pub fn set_clock(&mut self, clock: impl Fn() -> Micros + Send + 'static) {
        self.clock = Box::new(clock);
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
        let now = (self.clock)();
        if !self.started {
            // The first run after a start records every counter at 0 and reads nothing: a series
            // that appeared at 3 would hide those 3 losses from `increase()`, and after a restart
            // a first value above the previous process's last would hide the reset.
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
        let clock = &self.clock;
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
                            let queried_at = clock();
                            let source = &mut stage.source;
                            scope.spawn(move || {
                                source.fetch(since, limit).map(|rows| Fetch {
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
            for (t, d) in flow.totals.iter_mut().zip(&outcome.stages) {
                t.entered += d.entered;
                t.passed += d.passed;
                t.lost += d.lost;
                t.recovered += d.recovered;
            }
            flow.untracked += outcome.untracked;
            if outcome.untracked > 0 {
                warn!(flow = %flow.name, keys = outcome.untracked, max_keys_in_flight = flow.params.max_keys, "Flow keys not tracked: max_keys_in_flight reached.");
            }
            for lost in &outcome.lost {
                let event = LostEvent::new(
                    &flow.name,
                    &flow.stages[lost.stage].name,
                    &flow.stages[lost.stage + 1].name,
                    &lost.key,
                    lost.seen_at,
                    now,
                );
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
                match self.sink.emit(&event) {
                    Ok(()) => flow.events_written += 1,
                    Err(e) => {
                        if flow.events_failed == 0 || outcome.lost.len() == 1 {
                            error!(flow = %flow.name, error = %e, "Lost-order event not written.");
                        }
                        flow.events_failed += 1;
                    }
                }
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
    for (i, stage) in flow.stages.iter().enumerate() {
        let labels = [flow.name.as_str(), stage.name.as_str()];
        let t = &flow.totals[i];
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
