//! Client connections by state and wait-event type against `max_connections`, the age of the
//! oldest open transaction and of the oldest running query, and the sessions waiting on a
//! lock: one grouped query over `pg_stat_activity`.

use super::{num, text_or};
use dozor_metrics::catalogue::postgresql as m;
use dozor_metrics::sample::Recorder;

/// Client backends only (what `max_connections` limits, less background workers). The
/// agent's own session is counted as a connection but left out of the ages. Without
/// `pg_monitor`, other roles' sessions show a NULL state, reported as `unknown`.
pub const SQL: &str = "SELECT coalesce(state, 'unknown'), coalesce(wait_event_type, 'none'), \
     count(*)::float8, \
     coalesce(extract(epoch FROM max(now() - xact_start) FILTER (WHERE pid <> pg_backend_pid())), 0)::float8, \
     coalesce(extract(epoch FROM max(now() - query_start) FILTER (WHERE state = 'active' AND pid <> pg_backend_pid())), 0)::float8, \
     current_setting('max_connections')::float8 \
     FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY 1, 2";

/// One row of [`SQL`]: the connections in one (state, wait-event type).
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub state: String,
    pub wait_event_type: String,
    pub count: f64,
    pub oldest_transaction: f64,
    pub oldest_query: f64,
    pub max_connections: f64,
}

impl Group {
    /// Reads one row of [`SQL`].
    pub fn from_row(row: &postgres::Row) -> Result<Group, postgres::Error> {
        Ok(Group {
            state: text_or(row, 0, "unknown")?,
            wait_event_type: text_or(row, 1, "none")?,
            count: num(row, 2)?,
            oldest_transaction: num(row, 3)?,
            oldest_query: num(row, 4)?,
            max_connections: num(row, 5)?,
        })
    }
}

/// Records the groups of `instance`. Ages are 0 when nothing is open or running, so an alert
/// on them resolves instead of going stale.
pub fn record(recorder: &mut Recorder, instance: &str, groups: &[Group]) {
    let mut oldest_transaction: f64 = 0.0;
    let mut oldest_query: f64 = 0.0;
    let mut waiting = 0.0;
    for g in groups {
        recorder.record(
            &m::CONNECTIONS,
            g.count,
            &[instance, &g.state, &g.wait_event_type],
        );
        oldest_transaction = oldest_transaction.max(g.oldest_transaction);
        oldest_query = oldest_query.max(g.oldest_query);
        if g.wait_event_type == "Lock" {
            waiting += g.count;
        }
    }
    if let Some(g) = groups.first() {
        recorder.record(&m::CONNECTION_MAX, g.max_connections, &[instance]);
    }
    recorder.record(&m::OLDEST_TRANSACTION_AGE, oldest_transaction, &[instance]);
    recorder.record(&m::OLDEST_QUERY_AGE, oldest_query, &[instance]);
    recorder.record(&m::LOCK_WAITING_SESSIONS, waiting, &[instance]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::postgresql::tests::value;

    fn group(state: &str, wait: &str, count: f64, xact: f64, query: f64) -> Group {
        Group {
            state: state.into(),
            wait_event_type: wait.into(),
            count,
            oldest_transaction: xact,
            oldest_query: query,
            max_connections: 100.0,
        }
    }

    #[test]
    fn connections_ages_and_lock_waits() {
        let groups = [
            group("active", "none", 1.0, 0.0, 0.0),
            group("idle", "Client", 7.0, 0.0, 0.0),
            group("idle in transaction", "Client", 1.0, 930.5, 0.0),
            group("active", "Lock", 2.0, 12.0, 11.5),
        ];
        let mut r = Recorder::new();
        record(&mut r, "shop", &groups);
        let s = r.take();
        let conn = "dozor.postgresql.connections";
        assert_eq!(value(&s, conn, &["shop", "idle", "Client"]), Some(7.0));
        assert_eq!(value(&s, conn, &["shop", "active", "Lock"]), Some(2.0));
        assert_eq!(
            value(&s, "postgresql.connection.max", &["shop"]),
            Some(100.0)
        );
        assert_eq!(
            value(&s, "dozor.postgresql.oldest_transaction.age", &["shop"]),
            Some(930.5)
        );
        assert_eq!(
            value(&s, "dozor.postgresql.oldest_query.age", &["shop"]),
            Some(11.5)
        );
        assert_eq!(
            value(&s, "dozor.postgresql.lock.waiting_sessions", &["shop"]),
            Some(2.0)
        );
    }

    #[test]
    fn nothing_open_reads_as_zero_ages() {
        let mut r = Recorder::new();
        record(&mut r, "shop", &[group("active", "none", 1.0, 0.0, 0.0)]);
        let s = r.take();
        assert_eq!(
            value(&s, "dozor.postgresql.oldest_transaction.age", &["shop"]),
            Some(0.0)
        );
        assert_eq!(
            value(&s, "dozor.postgresql.lock.waiting_sessions", &["shop"]),
            Some(0.0)
        );
    }
}
