//! Replication delay from heartbeat rows: the agent writes `clock_timestamp()` into a table on
//! the primary on every collection and reads it back on the replica.
//!
//! With `primary_dsn` (the agent both writes and reads), the delay is the age of the oldest
//! heartbeat written that the replica has not replayed yet, and 0 when it has replayed them
//! all (`db::pending`, kept in the agent's state directory so that it goes on across restarts):
//! it grows at wall-clock speed from the moment replay stops, whether the primary is busy or
//! idle, and falls to milliseconds once replay catches up. Without it, a replica only reads the
//! newest timestamp some writer left (the agent of the primary's instance) and reports its age,
//! which includes up to one of that writer's intervals and compares the primary's clock with
//! the replica's: keep both on NTP.

use super::IntegrationError;
use super::error::{self, Doing};
use dozor_metrics::catalogue::postgresql as m;
use dozor_metrics::sample::Recorder;
use postgres::error::SqlState;

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

/// The heartbeat of writer `$1` and the server's clock.
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

/// Seconds since the epoch as microseconds, the unit of `db::pending`.
pub fn micros(seconds: f64) -> i64 {
    (seconds * 1e6).round() as i64
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

    /// The writer's row on the primary and the primary's clock, both in seconds since the
    /// epoch; no row (or no table yet) is `None`.
    pub fn last(
        &self,
        client: &mut postgres::Client,
        instance: &str,
        role: &str,
    ) -> Result<(Option<f64>, f64), IntegrationError> {
        let fail = |e: postgres::Error| {
            error::classify(instance, role, Doing::Query("heartbeat write"), &e)
        };
        let row = match client.query_one(&read_own_sql(&self.table), &[&self.id]) {
            Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => client.query_one(
                "SELECT NULL::float8, extract(epoch FROM clock_timestamp())::float8",
                &[],
            ),
            other => other,
        }
        .map_err(fail)?;
        Ok((row.try_get(0).map_err(fail)?, row.try_get(1).map_err(fail)?))
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
                // Regression: #11. Two instances creating the table at once: the one that
                // loses gets a unique violation on the catalog, "relation already exists" or
                // "type already exists" (the table's row type), yet the table is there.
                match client.batch_execute(&create_sql(&self.table)) {
                    Err(e)
                        if e.code() == Some(&SqlState::UNIQUE_VIOLATION)
                            || e.code() == Some(&SqlState::DUPLICATE_TABLE)
                            || e.code() == Some(&SqlState::DUPLICATE_OBJECT) => {}
                    other => other.map_err(fail)?,
                }
            }
            self.created = true;
        }
        let row = client
            .query_one(&write_sql(&self.table), &[&self.id])
            .map_err(fail)?;
        row.try_get::<_, f64>(0).map_err(fail)
    }
}

/// What the replica has replayed of writer `instance`'s heartbeats: its row's time in seconds
/// since the epoch, `None` when it has no row (or no table: created on the primary after replay
/// stopped).
pub fn replayed(
    client: &mut postgres::Client,
    table: &str,
    instance: &str,
    role: &str,
) -> Result<Option<f64>, IntegrationError> {
    match client.query_one(&read_own_sql(table), &[&instance]) {
        Ok(row) => row
            .try_get(0)
            .map_err(|e| read_error(&e, table, instance, role)),
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => Ok(None),
        Err(e) => Err(read_error(&e, table, instance, role)),
    }
}

/// On a replica whose heartbeats another agent writes: records the age of the newest.
pub fn read_newest(
    client: &mut postgres::Client,
    recorder: &mut Recorder,
    table: &str,
    instance: &str,
    role: &str,
) -> Result<(), IntegrationError> {
    let fail = |e: postgres::Error| read_error(&e, table, instance, role);
    let row = client.query_one(&read_any_sql(table), &[]).map_err(fail)?;
    let (newest, now): (Option<f64>, f64) =
        (row.try_get(0).map_err(fail)?, row.try_get(1).map_err(fail)?);
    // Nothing written yet by the primary's agent: no delay to report.
    if let Some(newest) = newest {
        recorder.record(&m::HEARTBEAT_DELAY, age(newest, now), &[instance]);
    }
    Ok(())
}

fn read_error(e: &postgres::Error, table: &str, instance: &str, role: &str) -> IntegrationError {
    let mut err = error::classify(instance, role, Doing::Query("heartbeat read"), e);
    if e.code() == Some(&SqlState::UNDEFINED_TABLE) {
        err.kind = "config";
        err.message = format!(
            "instance {instance}: heartbeat table {table} not found on the replica: enable heartbeat on the primary's instance, or set heartbeat.primary_dsn"
        );
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_uses_the_configured_table() {
        assert!(write_sql("mon.hb").starts_with("INSERT INTO mon.hb (id, ts)"));
        assert!(read_any_sql("hb").contains("max(ts)"));
        assert_eq!(age(100.0, 99.0), 0.0);
        assert_eq!(micros(1.5), 1_500_000);
    }
}
