//! The `flow` integration: order-flow reconciliation. A flow names stages (shop -> MES -> CRM),
//! each a read-only SQL query against that system's own database returning the keys (order ids)
//! seen there and when. Every run reads the rows new since the last run from every stage (in
//! parallel, one connection per stage), and reports per stage the keys that entered, passed on to
//! the next stage, are in flight, and are lost: older than the stage's SLA without reaching the
//! next stage (`dozor.flow.*`). Each newly lost key is also an event (see [`events`]), an OTLP log
//! record sent through the exporter's logs outbox, reported once, also across restarts, thanks
//! to the state file (see [`state`]), which marks it reported only once it is in the outbox.
//!
//! [`reconcile`] is the pure logic and `run` the integration around it; [`pg`] reads a
//! PostgreSQL stage, [`my`] a MySQL or MariaDB one: the stages of one flow may be in different
//! kinds of database.

mod config;
pub mod events;
pub mod my;
pub mod pg;
pub mod reconcile;
mod run;
pub mod state;

#[cfg(test)]
mod tests;

pub use config::{Config, StageConfig};

pub use run::FlowIntegration;

use reconcile::{Micros, Row};
use std::path::PathBuf;

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
    /// Rows with `seen_at` after `since` (unix microseconds), in `seen_at` order, at most
    /// `limit`, and the database's own clock just before the query: every row it had committed
    /// by then is in the result (or after a capped one). The database's clock rather than the
    /// agent's, so a skewed agent clock never makes rows look read that were not.
    fn fetch(&mut self, since: Micros, limit: usize) -> Result<(Vec<Row>, Micros), StageError>;

    /// Where it reads from, for messages (`host:port/db`, never a password).
    fn describe(&self) -> String;
}

/// `result`, after dropping the connection `conn` when it is an error, so that the next run
/// connects again.
fn disconnect_on_error<C, T>(
    conn: &mut Option<C>,
    result: Result<T, StageError>,
) -> Result<T, StageError> {
    if result.is_err() {
        *conn = None;
    }
    result
}

/// A stage whose source could not even be set up; every run reports why.
struct Broken(String);

impl Source for Broken {
    fn fetch(&mut self, _: Micros, _: usize) -> Result<(Vec<Row>, Micros), StageError> {
        Err(StageError::Connect(self.0.clone()))
    }

    fn describe(&self) -> String {
        "?".into()
    }
}

/// The state directory used when `state_dir` is unset: `flow` in the agent's state directory,
/// beside its buffer.
pub fn default_state_dir() -> PathBuf {
    dozor_config::state_dir("dozor-agent").join("flow")
}
