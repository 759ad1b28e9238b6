//! The `postgresql` integration: throughput, connections, locks, replication, statements and
//! sizes of each configured PostgreSQL server, read from its statistics views.
//!
//! One integration runs per instance, on one connection kept across runs (reconnected after
//! an error), with `statement_timeout` set below the integration's timeout. A collection issues
//! six queries, each one grouped in SQL ([`recovery`], [`stat_database`], [`activity`],
//! [`locks`], [`replication`], [`stat_statements`]), plus [`sizes`] once a minute, one or two
//! for the heartbeat and one for `table_stats` ([`stat_user_tables`]) when enabled. Every
//! source is one module with its SQL as a constant and a pure function from rows to samples. A
//! failing source does not stop the others: each is reported in
//! `dozor.agent.scrape.source.success` (by its view's name), and the first error is the run's.
//!
//! The role needs `pg_monitor`; without it PostgreSQL hides what other roles do, so every run
//! reports a `permission` error naming the `GRANT` while still recording what it can see.
//! Connections are TCP or Unix sockets, with TLS as libpq does it (`crate::integrations::db`).

mod activity;
pub mod config;
mod connection;
mod error;
mod heartbeat;
mod locks;
mod recovery;
mod replication;
mod sizes;
mod stat_database;
mod stat_statements;
mod stat_user_tables;

#[cfg(test)]
mod tests;

pub use config::{Config, InstanceConfig};

use super::db::pending::{self, Pending, now_micros};
use super::{Integration, IntegrationError, Sources};
use connection::{Connection, Session};
use dozor_metrics::catalogue::postgresql as m;
use dozor_metrics::sample::Recorder;
use error::Doing;
use std::time::Duration;

/// Run once per connection: who the agent is and whether it may see everything.
const PROBE_SQL: &str = "SELECT current_user::text, pg_has_role('pg_monitor', 'USAGE')";

/// Heartbeat state of one instance.
struct Heartbeat {
    table: String,
    /// Writes on the instance's own connection when it is a primary.
    own: heartbeat::Writer,
    /// Writes on `primary_dsn` when the instance is a replica.
    primary: Option<(Connection, heartbeat::Writer)>,
    /// Heartbeats written on the primary, not yet replayed here.
    pending: Pending,
}

/// The integration for one instance.
pub struct Postgresql {
    /// `postgresql/<instance>`: each instance gets its own `dozor.agent.scrape.*` series.
    name: String,
    instance: String,
    /// The DSN's role until connected, then `current_user`.
    role: String,
    monitor: bool,
    conn: Connection,
    max_databases: usize,
    sizes: sizes::Sizes,
    statements: Option<stat_statements::Statements>,
    /// `max_tables` when `table_stats` is on.
    tables: Option<i64>,
    heartbeat: Option<Heartbeat>,
}

impl Postgresql {
    /// The integration for `config`, whose DSN `validate` accepted.
    pub fn new(config: &InstanceConfig, timeout: Duration) -> Postgresql {
        // An invalid DSN was refused by `validate`; should one get here, connecting to the
        // default server fails with a message naming the instance.
        let pg = config.dsn.postgres().unwrap_or_default();
        let role = pg
            .config
            .get_user()
            .unwrap_or("(the agent's OS user)")
            .to_string();
        let heartbeat = config.heartbeat.enabled.then(|| Heartbeat {
            table: config.heartbeat.table.clone(),
            own: heartbeat::Writer::new(&config.heartbeat.table, &config.name),
            primary: config.heartbeat.primary_dsn.as_ref().map(|dsn| {
                (
                    Connection::new(dsn.postgres().unwrap_or_default(), timeout),
                    heartbeat::Writer::new(&config.heartbeat.table, &config.name),
                )
            }),
            pending: Pending::default(),
        });
        Postgresql {
            name: format!("postgresql/{}", config.name),
            instance: config.name.clone(),
            role,
            monitor: true,
            conn: Connection::new(pg, timeout),
            max_databases: config.max_databases,
            sizes: sizes::Sizes::default(),
            statements: config
                .statements
                .enabled
                .then(|| stat_statements::Statements::new(config.statements.top_n)),
            tables: config
                .table_stats
                .then(|| i64::try_from(config.max_tables).unwrap_or(i64::MAX)),
            heartbeat,
        }
    }

    /// Keeps the list of heartbeats waiting to be replayed in `state_dir` (read now; written
    /// back only when `save`), so that the delay goes on across restarts.
    pub fn keep_state(mut self, state_dir: &std::path::Path, save: bool) -> Postgresql {
        if let Some(hb) = &mut self.heartbeat
            && hb.primary.is_some()
        {
            let file = pending::path(state_dir, "postgresql", &self.instance);
            hb.pending = Pending::load(file, save);
        }
        self
    }

    /// Runs every source on an open connection, noting each in `sources`.
    fn collect_sources(
        &mut self,
        rec: &mut Recorder,
        sources: &mut Sources,
    ) -> Option<recovery::Recovery> {
        let (inst, role) = (self.instance.as_str(), self.role.as_str());
        let mut s = Session {
            client: self.conn.client.as_mut()?,
            instance: inst,
            role,
            sources,
        };
        let recovery = s
            .rows("recovery", recovery::SQL, &[], recovery::Recovery::from_row)
            .and_then(|mut r| r.pop());
        if let Some(r) = &recovery {
            recovery::record(rec, inst, r);
        }
        if self.sizes.due()
            && let Some(rows) = s.rows("pg_database_size", sizes::SQL, &[], sizes::from_row)
        {
            self.sizes.update(rows);
        }
        let source = ("pg_stat_database", stat_database::SQL);
        if let Some(mut dbs) = s.rows(source.0, source.1, &[], stat_database::Database::from_row) {
            self.sizes.fill(&mut dbs);
            stat_database::record(rec, inst, dbs, self.max_databases);
        }

        if let Some(groups) = s.rows(
            "pg_stat_activity",
            activity::SQL,
            &[],
            activity::Group::from_row,
        ) {
            activity::record(rec, inst, &groups);
        }
        if let Some(locks) = s.rows("pg_locks", locks::SQL, &[], locks::Locks::from_row) {
            locks::record(rec, inst, &locks);
        }
        let source = ("pg_stat_replication", replication::SQL);
        if let Some(replicas) = s.rows(source.0, source.1, &[], replication::Replica::from_row) {
            replication::record(rec, inst, &replicas);
        }
        if let Some(max) = self.tables {
            let source = ("pg_stat_user_tables", stat_user_tables::SQL);
            if let Some(tables) = s.rows(
                source.0,
                source.1,
                &[&max],
                stat_user_tables::Table::from_row,
            ) {
                stat_user_tables::record(rec, inst, &tables);
            }
        }
        if let Some(statements) = &mut self.statements {
            // Absent (not installed) is not a source that failed: nothing is noted.
            match statements.collect(s.client, rec, inst, role) {
                Ok(false) => {}
                result => s.sources.note("pg_stat_statements", result.map(|_| ())),
            }
        }
        recovery
    }

    /// Writes a heartbeat on the primary, and on a replica reads the delay.
    fn collect_heartbeat(&mut self, rec: &mut Recorder, in_recovery: bool, sources: &mut Sources) {
        let (inst, role) = (self.instance.as_str(), self.role.as_str());
        let (Some(hb), Some(client)) = (&mut self.heartbeat, self.conn.client.as_mut()) else {
            return;
        };
        if !in_recovery {
            sources.note("heartbeat", hb.own.write(client, inst, role).map(|_| ()));
            return;
        }
        let Some((primary, writer)) = &mut hb.primary else {
            let newest = heartbeat::read_newest(client, rec, &hb.table, inst, role);
            sources.note("heartbeat", newest);
            return;
        };
        // What the replica replayed, then the write: the delay is that of the heartbeats
        // written before this run, and the first run after a start (with the list of its
        // predecessor, or seeded from the servers) reports one.
        let replayed = heartbeat::replayed(client, &hb.table, inst, role);
        let pending = &mut hb.pending;
        let written = primary.open(inst, role).and_then(|(c, fresh)| {
            if fresh {
                writer.reset();
            }
            if pending.is_empty()
                && let Ok(seen) = &replayed
            {
                let (last, primary_now) = writer.last(c, inst, role)?;
                let micros = |t: f64| heartbeat::micros(t);
                pending.seed(
                    seen.map(micros),
                    last.map(micros),
                    micros(primary_now),
                    now_micros(),
                );
            }
            writer.write(c, inst, role)
        });
        primary.check();
        match replayed {
            Ok(seen) => {
                if let Some(seen) = seen {
                    pending.applied(heartbeat::micros(seen));
                }
                rec.record(&m::HEARTBEAT_DELAY, pending.delay(now_micros()), &[inst]);
                sources.note("heartbeat", Ok(()));
            }
            Err(e) => sources.note("heartbeat", Err(e)),
        }
        match written {
            Ok(t) => pending.written(heartbeat::micros(t), now_micros()),
            Err(e) => sources.note("heartbeat", Err(e)),
        }
        if let Err(e) = pending.save() {
            tracing::warn!(instance = inst, error = %e, "Heartbeat state not saved; a restart would report the replica delay from its next write.");
        }
    }
}

impl Integration for Postgresql {
    fn name(&self) -> &str {
        &self.name
    }

    fn collect(&mut self, rec: &mut Recorder) -> Result<(), IntegrationError> {
        let mut sources = Sources::new(&self.name);
        match self.conn.open(&self.instance, &self.role) {
            Ok((client, fresh)) => {
                if fresh {
                    if let Some(hb) = &mut self.heartbeat {
                        hb.own.reset();
                    }
                    match client.query_one(PROBE_SQL, &[]) {
                        Ok(row) => {
                            self.role = row.try_get(0).unwrap_or_else(|_| self.role.clone());
                            self.monitor = row.try_get(1).unwrap_or(false);
                        }
                        Err(e) => sources.fail(error::classify(
                            &self.instance,
                            &self.role,
                            Doing::Query("role"),
                            &e,
                        )),
                    }
                }
            }
            Err(e) => {
                rec.record(&m::UP, 0.0, &[&self.instance]);
                return Err(e);
            }
        }
        let recovery = self.collect_sources(rec, &mut sources);
        if let Some(r) = &recovery {
            self.collect_heartbeat(rec, r.in_recovery, &mut sources);
        }
        self.conn.check();
        // Up when the server answered the first query and the connection survived the run.
        let up = recovery.is_some() && self.conn.client.is_some();
        rec.record(&m::UP, if up { 1.0 } else { 0.0 }, &[&self.instance]);
        if !self.monitor {
            sources.fail(error::lacks_pg_monitor(&self.instance, &self.role));
        }
        sources.finish(rec)
    }
}

/// A `float8` column; NULL reads as 0 (counters PostgreSQL has not started yet).
fn num(row: &postgres::Row, i: usize) -> Result<f64, postgres::Error> {
    Ok(opt(row, i)?.unwrap_or(0.0))
}

/// A nullable `float8` column.
fn opt(row: &postgres::Row, i: usize) -> Result<Option<f64>, postgres::Error> {
    row.try_get(i)
}

/// A text column, `default` when NULL.
fn text_or(row: &postgres::Row, i: usize, default: &str) -> Result<String, postgres::Error> {
    Ok(row
        .try_get::<_, Option<String>>(i)?
        .unwrap_or_else(|| default.to_string()))
}
