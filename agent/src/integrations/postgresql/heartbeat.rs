//! Replication delay from heartbeat rows: the agent writes `clock_timestamp()` into a table on
//! the primary on every collection and reads it back on the replica.
//!
//! With `primary_dsn` (the agent both writes and reads), the delay is the age of the oldest
//! heartbeat written that the replica has not replayed yet, and 0 when it has replayed them
//! all: it grows at wall-clock speed from the moment replay stops, whether the primary is
//! busy or idle, and falls to milliseconds once replay catches up. Without it, a replica only
//! reads the newest timestamp some writer left (the agent of the primary's instance) and
//! reports its age, which includes up to one of that writer's intervals.
//!
//! Timestamps are written with the primary's clock and compared with the replica's: keep both
//! on NTP, as any skew between them adds to (or hides part of) the delay.

use super::IntegrationError;
use super::error::{self, Doing};
use dozor_metrics::catalogue::postgresql as m;
use dozor_metrics::sample::Recorder;
use postgres::error::SqlState;
use std::collections::VecDeque;

/// Heartbeats kept while waiting for the replica to replay them: at a 15 s interval, about
/// 17 hours; beyond that the newest are dropped (the oldest is the one the delay needs).
pub const MAX_PENDING: usize = 4096;

/// `CREATE TABLE IF NOT EXISTS` for `table`, run once per connection to the writer.
pub fn create_sql(table: &str) -> String {
    format!("CREATE TABLE IF NOT EXISTS {table} (id text PRIMARY KEY, ts timestamptz NOT NULL)")
}

/// Writes the heartbeat of writer `$1`; returns its time in seconds since the epoch.
pub fn write_sql(table: &str) -> String {
    format!(
        "INSERT INTO {table} (id, ts) VALUES ($1, clock_timestamp()) \
         ON CONFLICT (id) DO UPDATE SET ts = excluded.ts RETURNING extract(epoch FROM ts)::float8"
    )
}

/// Reads the heartbeat of writer `$1` and the replica's clock.
pub fn read_own_sql(table: &str) -> String {
    format!(
        "SELECT (SELECT extract(epoch FROM ts)::float8 FROM {table} WHERE id = $1), \
         extract(epoch FROM clock_timestamp())::float8"
    )
}

/// Reads the newest heartbeat of any writer and the replica's clock.
pub fn read_any_sql(table: &str) -> String {
    format!(
        "SELECT (SELECT extract(epoch FROM max(ts))::float8 FROM {table}), \
         extract(epoch FROM clock_timestamp())::float8"
    )
}

/// Heartbeats written and not yet seen replayed, oldest first.
#[derive(Debug, Default)]
pub struct Pending(VecDeque<f64>);

impl Pending {
    /// Notes a heartbeat written at `t`.
    pub fn written(&mut self, t: f64) {
        if self.0.len() < MAX_PENDING {
            self.0.push_back(t);
        }
    }

    /// The delay at replica time `now`, given the newest heartbeat the replica has replayed;
    /// forgets the heartbeats it has replayed.
    pub fn delay(&mut self, replayed: Option<f64>, now: f64) -> f64 {
        if let Some(seen) = replayed {
            while self.0.front().is_some_and(|&t| t <= seen) {
                self.0.pop_front();
            }
        }
        self.0
            .front()
            .map_or(0.0, |&oldest| (now - oldest).max(0.0))
    }
}

/// The delay when another agent writes: the age of the newest heartbeat.
pub fn age(newest: f64, now: f64) -> f64 {
    (now - newest).max(0.0)
}

/// A connection that writes heartbeats (the instance's own one on a primary, or one to
/// `primary_dsn`).
pub struct Writer {
    pub table: String,
    pub id: String,
    created: bool,
}

impl Writer {
    /// A writer of row `id` into `table`.
    pub fn new(table: &str, id: &str) -> Writer {
        Writer {
            table: table.into(),
            id: id.into(),
            created: false,
        }
    }

    /// Forgets that the table exists (after a reconnect it is checked again).
    pub fn reset(&mut self) {
        self.created = false;
    }

    /// Writes one heartbeat; returns its time.
    pub fn write(
        &mut self,
        client: &mut postgres::Client,
        instance: &str,
        role: &str,
    ) -> Result<f64, IntegrationError> {
        let fail = |e: postgres::Error| {
            let mut err = error::classify(instance, role, Doing::Query("heartbeat write"), &e);
            if err.kind == "permission" {
                err.message = format!(
                    "instance {instance}: role {role} may not create or write the heartbeat table {t} on the primary: \
                     CREATE TABLE {t} (id text PRIMARY KEY, ts timestamptz NOT NULL); GRANT SELECT, INSERT, UPDATE ON {t} TO {role}",
                    t = self.table
                );
            }
            err
        };
        if !self.created {
            // Checked first: CREATE TABLE IF NOT EXISTS needs CREATE on the schema even when
            // the table exists, and a monitoring role usually has only the table's grants.
            let exists: Option<String> = client
                .query_one("SELECT to_regclass($1)::text", &[&self.table])
                .and_then(|row| row.try_get(0))
                .map_err(fail)?;
            if exists.is_none() {
                client
                    .batch_execute(&create_sql(&self.table))
                    .map_err(fail)?;
            }
            self.created = true;
        }
        let row = client
            .query_one(&write_sql(&self.table), &[&self.id])
            .map_err(fail)?;
        row.try_get::<_, f64>(0).map_err(fail)
    }
}

/// Reads the replica side and records the delay. `pending` is `Some` when this agent writes
/// the heartbeats (the row named after `instance`), `None` when another does.
pub fn read(
    client: &mut postgres::Client,
    recorder: &mut Recorder,
    table: &str,
    instance: &str,
    pending: Option<&mut Pending>,
    role: &str,
) -> Result<(), IntegrationError> {
    let fail = |e: postgres::Error| {
        let mut err = error::classify(instance, role, Doing::Query("heartbeat read"), &e);
        if e.code() == Some(&SqlState::UNDEFINED_TABLE) {
            err.kind = "config";
            err.message = format!(
                "instance {instance}: heartbeat table {table} not found on the replica: enable heartbeat on the primary's instance, or set heartbeat.primary_dsn"
            );
        }
        err
    };
    let result = match pending {
        Some(_) => client.query_one(&read_own_sql(table), &[&instance]),
        None => client.query_one(&read_any_sql(table), &[]),
    };
    let (seen, now): (Option<f64>, f64) = match result {
        Ok(row) => (row.try_get(0).map_err(fail)?, row.try_get(1).map_err(fail)?),
        // This agent just created the table on the primary and the replica has not replayed
        // that yet: none of the heartbeats is replayed.
        Err(e) if pending.is_some() && e.code() == Some(&SqlState::UNDEFINED_TABLE) => {
            let row = client
                .query_one("SELECT extract(epoch FROM clock_timestamp())::float8", &[])
                .map_err(fail)?;
            (None, row.try_get(0).map_err(fail)?)
        }
        Err(e) => return Err(fail(e)),
    };
    let delay = match (pending, seen) {
        (Some(p), seen) => p.delay(seen, now),
        (None, Some(newest)) => age(newest, now),
        // Nothing written yet by the primary's agent: no delay to report.
        (None, None) => return Ok(()),
    };
    recorder.record(&m::HEARTBEAT_DELAY, delay, &[instance]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64) {
        assert!((got - want).abs() < 1e-9, "{got} != {want}");
    }

    #[test]
    fn delay_is_the_age_of_the_oldest_heartbeat_not_replayed() {
        let mut p = Pending::default();
        // Replica in step: each heartbeat replayed before the next read.
        p.written(100.0);
        assert_eq!(p.delay(Some(100.0), 100.004), 0.0);
        // Replay paused after 100: heartbeats pile up, the delay follows the wall clock.
        p.written(115.0);
        close(p.delay(Some(100.0), 115.01), 0.01);
        p.written(130.0);
        close(p.delay(Some(100.0), 130.01), 15.01);
        p.written(145.0);
        close(p.delay(Some(100.0), 145.01), 30.01);
        // Resumed: caught up to 130, then to everything.
        close(p.delay(Some(130.0), 145.02), 0.02);
        assert_eq!(p.delay(Some(145.0), 145.03), 0.0);
        // Row never replicated (table created after the replica stopped).
        p.written(160.0);
        assert_eq!(p.delay(None, 170.0), 10.0);
    }

    #[test]
    fn pending_is_bounded_and_keeps_the_oldest() {
        let mut p = Pending::default();
        for i in 0..(MAX_PENDING + 10) {
            p.written(i as f64);
        }
        assert_eq!(p.0.len(), MAX_PENDING);
        assert_eq!(p.delay(None, 5000.0), 5000.0);
    }

    #[test]
    fn sql_uses_the_configured_table() {
        assert!(write_sql("mon.hb").starts_with("INSERT INTO mon.hb (id, ts)"));
        assert!(read_any_sql("hb").contains("max(ts)"));
        assert_eq!(age(100.0, 99.0), 0.0);
    }
}
