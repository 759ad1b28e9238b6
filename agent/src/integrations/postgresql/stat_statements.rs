//! Calls, execution time and rows of the statements that took the most time, from one query
//! over `pg_stat_statements`: the top N by total time, labelled by `queryid` (never the text),
//! plus one `queryid="other"` series holding the sum of all the rest.
//!
//! When a statement enters or leaves the reported set, `other` loses or gains its counts and
//! can step down (read as a counter reset). To keep that rare, the set is sticky: the query
//! returns the top 2N, and a statement reported before keeps its place while it stays among
//! them; only free places go to the next by rank. The sum over all `queryid` stays monotonic
//! until PostgreSQL evicts statements (`pg_stat_statements.max`).

use super::error::{self, Doing};
use super::{IntegrationError, num};
use dozor_metrics::catalogue::postgresql as m;
use dozor_metrics::sample::Recorder;
use std::time::{Duration, Instant};

/// Grouped by database and queryid (one statement run by several roles is one series). Rows
/// with a NULL queryid (other roles' statements without `pg_read_all_stats`) go to `other`.
/// `$1` is 2N: the candidates for [`select`].
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

/// A statement's identity across collections: database and queryid.
pub type Key = (Option<String>, Option<String>);

fn key(s: &Statement) -> Key {
    (s.database.clone(), s.queryid.clone())
}

/// Picks at most `n` of the ranked `candidates`: first those in `previous` (the last reported
/// set), then the best ranked others; everything else is added into `other`. Returns the
/// picked statements with `other` last.
pub fn select(
    candidates: Vec<Statement>,
    mut other: Statement,
    previous: &[Key],
    n: usize,
) -> Vec<Statement> {
    let mut picked = vec![false; candidates.len()];
    let mut count = 0;
    for (i, c) in candidates.iter().enumerate() {
        if count < n && previous.contains(&key(c)) {
            picked[i] = true;
            count += 1;
        }
    }
    for p in picked.iter_mut() {
        if count < n && !*p {
            *p = true;
            count += 1;
        }
    }
    let mut out = Vec::with_capacity(n + 1);
    for (c, p) in candidates.into_iter().zip(picked) {
        if p {
            out.push(c);
        } else {
            other.calls += c.calls;
            other.seconds += c.seconds;
            other.rows += c.rows;
        }
    }
    out.push(other);
    out
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
    /// The statements reported last time.
    previous: Vec<Key>,
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

    /// Queries and records; `Ok(false)` when the extension is not there. An optional source
    /// this server does not have is not an error (the run does not fail and no error is
    /// counted): it is logged once at WARN with the fix, and looked for again every
    /// [`RECHECK`].
    pub fn collect(
        &mut self,
        client: &mut postgres::Client,
        recorder: &mut Recorder,
        instance: &str,
        role: &str,
    ) -> Result<bool, IntegrationError> {
        if self.missing_since.is_some_and(|t| t.elapsed() < RECHECK) {
            return Ok(false);
        }
        let candidates = i64::try_from(2 * self.top_n).unwrap_or(i64::MAX);
        match client.query(SQL, &[&candidates]) {
            Ok(rows) => {
                if self.missing_since.take().is_some() {
                    tracing::info!(instance, "pg_stat_statements is available now.");
                }
                self.reported = false;
                let mut candidates = rows
                    .iter()
                    .map(Statement::from_row)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| {
                        error::classify(instance, role, Doing::Query("pg_stat_statements"), &e)
                    })?;
                // The row without a queryid sums the statements beyond the candidates; SQL
                // does not order a UNION's parts, so rank here.
                let rest = candidates
                    .iter()
                    .position(|c| c.queryid.is_none())
                    .map(|i| candidates.swap_remove(i))
                    .unwrap_or_default();
                candidates.sort_by(|a, b| {
                    b.seconds
                        .total_cmp(&a.seconds)
                        .then_with(|| a.queryid.cmp(&b.queryid))
                });
                let statements = select(candidates, rest, &self.previous, self.top_n);
                self.previous = statements
                    .iter()
                    .filter(|s| s.queryid.is_some())
                    .map(key)
                    .collect();
                record(recorder, instance, &statements);
                Ok(true)
            }
            Err(e) if error::statements_missing(&e) => {
                self.missing_since = Some(Instant::now());
                if !std::mem::replace(&mut self.reported, true) {
                    let why = e
                        .as_db_error()
                        .map_or(e.to_string(), |d| d.message().to_string());
                    tracing::warn!(
                        instance,
                        reason = %why,
                        "pg_stat_statements not usable: statement metrics are off, the rest is collected. Add pg_stat_statements to shared_preload_libraries (restart), then CREATE EXTENSION pg_stat_statements in the DSN's database, or set statements.enabled: false."
                    );
                }
                Ok(false)
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

    fn st(id: &str, seconds: f64) -> Statement {
        Statement {
            database: Some("shop".into()),
            queryid: Some(id.into()),
            calls: 1.0,
            seconds,
            rows: 1.0,
        }
    }

    fn ids(statements: &[Statement]) -> Vec<&str> {
        statements
            .iter()
            .map(|s| s.queryid.as_deref().unwrap_or(OTHER))
            .collect()
    }

    #[test]
    fn reported_statements_keep_their_place_while_among_the_candidates() {
        let rest = Statement {
            calls: 10.0,
            ..Statement::default()
        };
        // First collection: plain top 2 of the 4 candidates.
        let first = select(
            vec![st("a", 9.0), st("b", 8.0), st("c", 7.0), st("d", 6.0)],
            rest.clone(),
            &[],
            2,
        );
        assert_eq!(ids(&first), ["a", "b", "other"]);
        assert_eq!(first[2].calls, 12.0);
        let previous: Vec<Key> = first[..2].iter().map(key).collect();
        // c overtakes b, but b is still a candidate: b stays, c goes to other.
        let second = select(
            vec![st("a", 9.0), st("c", 8.5), st("b", 8.2), st("d", 6.0)],
            rest.clone(),
            &previous,
            2,
        );
        assert_eq!(ids(&second), ["a", "b", "other"]);
        // b falls out of the candidates: its place goes to the best ranked, c.
        let third = select(
            vec![st("a", 9.5), st("c", 9.0), st("d", 8.0), st("e", 7.0)],
            rest,
            &previous,
            2,
        );
        assert_eq!(ids(&third), ["a", "c", "other"]);
        assert_eq!(third[2].calls, 12.0);
    }

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
