//! Calls, execution time and rows of the statements that took the most time, from one query
//! over `pg_stat_statements`: the top N by total time, labelled by `queryid` (never the text),
//! plus one `queryid="other"` series holding the sum of all the rest.
//!
//! When a statement enters or leaves the top N, `other` loses or gains its counts, so `other`
//! alone can step down (read as a counter reset); the sum over all `queryid` stays monotonic
//! until PostgreSQL evicts statements (`pg_stat_statements.max`).

use super::error::{self, Doing};
use super::{IntegrationError, num};
use dozor_metrics::catalogue::postgresql as m;
use dozor_metrics::sample::Recorder;
use std::time::{Duration, Instant};

/// Grouped by database and queryid (one statement run by several roles is one series). Rows
/// with a NULL queryid (other roles' statements without `pg_read_all_stats`) go to `other`.
/// `$1` is N.
pub const SQL: &str = "WITH s AS ( \
       SELECT d.datname::text AS db, s.queryid, sum(s.calls)::float8 AS calls, \
              sum(s.total_exec_time)::float8 / 1000 AS secs, sum(s.rows)::float8 AS rows \
       FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid GROUP BY 1, 2), \
     r AS (SELECT *, queryid IS NOT NULL AND row_number() OVER (ORDER BY queryid IS NULL, secs DESC, queryid) <= $1 AS top FROM s) \
     SELECT db, queryid::text, calls, secs, rows FROM r WHERE top \
     UNION ALL \
     SELECT NULL, NULL, coalesce(sum(calls), 0), coalesce(sum(secs), 0), coalesce(sum(rows), 0) FROM r WHERE NOT top";

/// `postgresql.queryid` (and `postgresql.database.name`) of the overflow series.
pub const OTHER: &str = "other";

/// How long a missing extension is trusted to stay missing before the query is tried again.
pub const RECHECK: Duration = Duration::from_secs(600);

/// One row of [`SQL`]; `queryid` and `database` are `None` in the overflow row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Statement {
    pub database: Option<String>,
    pub queryid: Option<String>,
    pub calls: f64,
    pub seconds: f64,
    pub rows: f64,
}

impl Statement {
    /// Reads one row of [`SQL`].
    pub fn from_row(row: &postgres::Row) -> Result<Statement, postgres::Error> {
        Ok(Statement {
            database: row.try_get(0)?,
            queryid: row.try_get(1)?,
            calls: num(row, 2)?,
            seconds: num(row, 3)?,
            rows: num(row, 4)?,
        })
    }
}

/// Records the statements of `instance`.
pub fn record(recorder: &mut Recorder, instance: &str, statements: &[Statement]) {
    for s in statements {
        let db = s.database.as_deref().unwrap_or(OTHER);
        let id = s.queryid.as_deref().unwrap_or(OTHER);
        let a = [instance, db, id];
        recorder.record(&m::STATEMENT_CALLS, s.calls, &a);
        recorder.record(&m::STATEMENT_TIME, s.seconds, &a);
        recorder.record(&m::STATEMENT_ROWS, s.rows, &a);
    }
}

/// Whether the extension is there; a missing one is reported once, then tried again every
/// [`RECHECK`] (each try is an error in the server's log).
#[derive(Debug, Default)]
pub struct Statements {
    pub top_n: usize,
    missing_since: Option<Instant>,
    reported: bool,
}

impl Statements {
    /// Reads the top `top_n` statements.
    pub fn new(top_n: usize) -> Statements {
        Statements {
            top_n,
            ..Statements::default()
        }
    }

    /// Queries and records. A missing extension returns a `config` error the first time only.
    pub fn collect(
        &mut self,
        client: &mut postgres::Client,
        recorder: &mut Recorder,
        instance: &str,
        role: &str,
    ) -> Result<(), IntegrationError> {
        if self.missing_since.is_some_and(|t| t.elapsed() < RECHECK) {
            return Ok(());
        }
        let top_n = self.top_n as i64;
        match client.query(SQL, &[&top_n]) {
            Ok(rows) => {
                if self.missing_since.take().is_some() {
                    tracing::info!(instance, "pg_stat_statements is available now.");
                }
                self.reported = false;
                let statements = rows
                    .iter()
                    .map(Statement::from_row)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| {
                        error::classify(instance, role, Doing::Query("pg_stat_statements"), &e)
                    })?;
                record(recorder, instance, &statements);
                Ok(())
            }
            Err(e) if error::statements_missing(&e) => {
                self.missing_since = Some(Instant::now());
                if std::mem::replace(&mut self.reported, true) {
                    return Ok(());
                }
                let why = e
                    .as_db_error()
                    .map_or(e.to_string(), |d| d.message().to_string());
                Err(IntegrationError::new(
                    "config",
                    format!(
                        "instance {instance}: pg_stat_statements not usable ({why}); statement metrics are off, the rest is collected: add pg_stat_statements to shared_preload_libraries (restart), then CREATE EXTENSION pg_stat_statements in the DSN's database, or set statements.enabled: false"
                    ),
                ))
            }
            Err(e) => Err(error::classify(
                instance,
                role,
                Doing::Query("pg_stat_statements"),
                &e,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::postgresql::tests::value;

    #[test]
    fn top_statements_and_the_rest() {
        let rows = [
            Statement {
                database: Some("shop".into()),
                queryid: Some("-4617291244713409238".into()),
                calls: 1200.0,
                seconds: 3.25,
                rows: 1200.0,
            },
            Statement {
                database: None,
                queryid: None,
                calls: 40.0,
                seconds: 0.5,
                rows: 7.0,
            },
        ];
        let mut r = Recorder::new();
        record(&mut r, "shop", &rows);
        let s = r.take();
        let top = ["shop", "shop", "-4617291244713409238"];
        assert_eq!(
            value(&s, "dozor.postgresql.statement.calls", &top),
            Some(1200.0)
        );
        assert_eq!(
            value(&s, "dozor.postgresql.statement.time", &top),
            Some(3.25)
        );
        let other = ["shop", "other", "other"];
        assert_eq!(
            value(&s, "dozor.postgresql.statement.rows", &other),
            Some(7.0)
        );
        assert_eq!(s.len(), 6);
    }
}
