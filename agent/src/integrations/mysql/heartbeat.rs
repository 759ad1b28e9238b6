//! Replication delay from heartbeat rows (`dozor.mysql.replica.heartbeat.delay`), which stays
//! true when the primary is idle and keeps growing while replication is broken, where
//! `Seconds_Behind_Master` reads 0 or NULL.
//!
//! With `heartbeat.primary_dsn`, every run first reads on the replica the heartbeat it last
//! applied (`SELECT ts FROM t WHERE server_id = <primary's id>`), then writes a new one on the
//! primary: `SELECT @@server_id, UTC_TIMESTAMP(6)` and an upsert of that row (one row per
//! primary server id). The delay is the age, on the agent's monotonic clock, of the oldest
//! heartbeat written but not yet applied, 0 when all are: clock differences between the hosts
//! do not matter, and delays shorter than the interval read as 0. Without `primary_dsn`, a
//! primary instance writes into itself and a replica instance reads
//! `UTC_TIMESTAMP(6) - MAX(ts)`, which includes up to one interval of whatever agent writes.

use super::IntegrationError;
use super::client::{Client, Failure};
use super::config::{HeartbeatConfig, quoted_table};
use super::error::Doing;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Heartbeats remembered at most; beyond it the second oldest is forgotten, so the oldest,
/// which decides the delay, stays (4096 runs are 17 hours at 15 s).
const MAX_PENDING: usize = 4096;

/// Heartbeats written and not yet seen applied, oldest first: (timestamp in microseconds,
/// when it was taken).
#[derive(Debug, Default)]
pub struct Pending(VecDeque<(i64, Instant)>);

impl Pending {
    /// Remembers a heartbeat with timestamp `ts` taken at `at`.
    pub fn push(&mut self, ts: i64, at: Instant) {
        if self.0.len() >= MAX_PENDING {
            self.0.remove(1);
        }
        self.0.push_back((ts, at));
    }

    /// Forgets the heartbeats the replica has applied, given the timestamp it holds: the one
    /// with exactly that value and all older ones (writes apply in order), or, for a value the
    /// agent did not write, all with timestamps up to it.
    pub fn applied(&mut self, ts: i64) {
        match self.0.iter().position(|(t, _)| *t == ts) {
            Some(i) => drop(self.0.drain(..=i)),
            None => self.0.retain(|(t, _)| *t > ts),
        }
    }

    /// The age of the oldest heartbeat not applied at `now`; zero when there is none.
    pub fn delay(&self, now: Instant) -> Duration {
        self.0
            .front()
            .map_or(Duration::ZERO, |(_, at)| now.saturating_duration_since(*at))
    }
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` as microseconds since 1970-01-01 00:00:00.
pub fn micros(text: &str) -> Option<i64> {
    let (date, time) = text.trim().split_once(' ')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, mo, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, mi, s) = (t.next()??, t.next()??, t.next()??);
    if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) || !(1..=12).contains(&mo) {
        return None;
    }
    let us = format!("{frac:0<6}").parse::<i64>().ok()?;
    let (Ok(month), Ok(day)) = (u32::try_from(mo), u32::try_from(day)) else {
        return None;
    };
    let days = dozor_metrics::time::days_from_civil(y, month, day);
    Some(((days * 24 + h) * 60 + mi) * 60_000_000 + s * 1_000_000 + us)
}

/// The heartbeat of one instance.
pub struct Heartbeat {
    table: String,
    /// The table as users write it in grants: `database.name`.
    shown: String,
    primary: Option<Client>,
    pending: Pending,
    primary_server_id: Option<u64>,
}

impl Heartbeat {
    /// The heartbeat for an instance whose own DSN names `database`; `None` when disabled.
    pub fn new(
        instance: &str,
        config: &HeartbeatConfig,
        database: Option<&str>,
        timeout: Duration,
    ) -> Result<Option<Heartbeat>, IntegrationError> {
        if !config.enabled {
            return Ok(None);
        }
        let table = quoted_table(&config.table).ok_or_else(|| {
            IntegrationError::new(
                "config",
                format!("instance {instance}: invalid heartbeat.table"),
            )
        })?;
        let shown = match (config.table.contains('.'), database) {
            (false, Some(db)) => format!("{db}.{}", config.table),
            _ => config.table.clone(),
        };
        let primary = match &config.primary_dsn {
            // Its errors read "instance mes-replica (heartbeat primary): ...".
            Some(dsn) => Some(Client::new(
                &format!("{instance} (heartbeat primary)"),
                dsn,
                timeout,
            )?),
            None => None,
        };
        Ok(Some(Heartbeat {
            table,
            shown,
            primary,
            pending: Pending::default(),
            primary_server_id: None,
        }))
    }

    /// One run on `server`, which is a replica (`Some(true)`), a primary, or of unknown role
    /// (its replica status could not be read). Returns the delay to record, if any, and the
    /// first error: a delay read before the write to the primary failed is still returned.
    pub fn run(
        &mut self,
        server: &mut Client,
        replica: Option<bool>,
    ) -> (Option<Duration>, Result<(), IntegrationError>) {
        if self.primary.is_none() {
            return match replica {
                Some(true) => match self.read_newest(server) {
                    Ok(delay) => (delay, Ok(())),
                    Err(e) => (None, Err(e)),
                },
                Some(false) => (None, write(&self.table, &self.shown, server).map(|_| ())),
                None => (None, Ok(())),
            };
        }
        let mut delay = None;
        let mut result = Ok(());
        // Before the first write there is nothing to be behind on: reading 0 then would hide a
        // replica that was already broken when the agent started.
        if let Some(id) = self.primary_server_id {
            match self.read_applied(server, id) {
                Ok(applied) => {
                    if let Some(ts) = applied {
                        self.pending.applied(ts);
                    }
                    delay = Some(self.pending.delay(Instant::now()));
                }
                Err(e) => result = Err(e),
            }
        }
        let primary = self.primary.as_mut().expect("checked above");
        match write(&self.table, &self.shown, primary) {
            Ok((id, ts, at)) => {
                self.primary_server_id = Some(id);
                self.pending.push(ts, at);
            }
            Err(e) => {
                if result.is_ok() {
                    result = Err(e);
                }
            }
        }
        (delay, result)
    }

    /// The timestamp the replica holds for the primary's row; `None` when it has none yet, or
    /// not even the table (it was created on the primary after replication broke).
    fn read_applied(&self, server: &mut Client, id: u64) -> Result<Option<i64>, IntegrationError> {
        let sql = format!("SELECT ts FROM {} WHERE server_id = {id}", self.table);
        let grant = format!("GRANT SELECT ON {} TO {{user}}", self.shown);
        match server.table(&sql, read_doing(&grant)) {
            Ok(t) => Ok(t.get(0, &["ts"]).and_then(micros)),
            Err(Failure {
                code: Some(1146), ..
            }) => Ok(None),
            Err(f) => Err(f.error),
        }
    }

    /// `UTC_TIMESTAMP(6) - MAX(ts)` on the replica, for heartbeats another agent writes.
    fn read_newest(&self, server: &mut Client) -> Result<Option<Duration>, IntegrationError> {
        let sql = format!(
            "SELECT TIMESTAMPDIFF(MICROSECOND, MAX(ts), UTC_TIMESTAMP(6)) AS delay FROM {}",
            self.table
        );
        let grant = format!("GRANT SELECT ON {} TO {{user}}", self.shown);
        match server.table(&sql, read_doing(&grant)) {
            Ok(t) => Ok(t
                .get(0, &["delay"])
                .and_then(|v| v.parse::<i64>().ok())
                .map(|us| Duration::from_micros(us.max(0) as u64))),
            Err(Failure {
                code: Some(1146),
                error,
            }) => Err(IntegrationError::new(
                "config",
                format!(
                    "{error}: enable the heartbeat on the primary's instance too, or set heartbeat.primary_dsn so this agent writes it"
                ),
            )),
            Err(f) => Err(f.error),
        }
    }
}

fn read_doing(grant: &str) -> Doing<'_> {
    Doing::Query {
        source: "heartbeat read",
        grant,
    }
}

/// Writes a heartbeat on `primary`, creating the table when it is missing; returns the
/// primary's server id, the timestamp written and when it was taken.
fn write(
    table: &str,
    shown: &str,
    primary: &mut Client,
) -> Result<(u64, i64, Instant), IntegrationError> {
    let grant = format!(
        "GRANT INSERT, UPDATE ON {shown} TO {{user}} (and CREATE, for the agent to create the table)"
    );
    let doing = Doing::Query {
        source: "heartbeat write",
        grant: &grant,
    };
    let now = primary.table("SELECT @@server_id AS id, UTC_TIMESTAMP(6) AS ts", doing)?;
    let at = Instant::now();
    let (Some(id), Some(text)) = (now.get(0, &["id"]), now.get(0, &["ts"])) else {
        return Err(IntegrationError::new(
            "parse",
            "heartbeat write: no server id or time",
        ));
    };
    let id: u64 = id.parse().map_err(|_| {
        IntegrationError::new("parse", "heartbeat write: server id is not a number")
    })?;
    let ts = micros(text).ok_or_else(|| {
        IntegrationError::new(
            "parse",
            format!("heartbeat write: unreadable time {text:?}"),
        )
    })?;
    // `text` is digits, '-', ':', '.' and a space (checked by `micros`): safe as a literal.
    let upsert = format!(
        "INSERT INTO {table} (server_id, ts) VALUES ({id}, '{text}') ON DUPLICATE KEY UPDATE ts = '{text}'"
    );
    match primary.execute(&upsert, doing) {
        Err(Failure {
            code: Some(1146), ..
        }) => {
            let create = format!(
                "CREATE TABLE IF NOT EXISTS {table} (server_id INT UNSIGNED NOT NULL PRIMARY KEY, ts DATETIME(6) NOT NULL) ENGINE=InnoDB"
            );
            primary.execute(&create, doing)?;
            primary.execute(&upsert, doing)?;
        }
        other => other?,
    }
    Ok((id, ts, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(micros("1970-01-01 00:00:00"), Some(0));
        assert_eq!(micros("1970-01-02 00:00:01.5"), Some(86_401_500_000));
        assert_eq!(
            micros("2026-11-25 01:24:22.123456"),
            Some(1_795_569_862_123_456)
        );
        assert_eq!(
            micros("2000-02-29 12:00:00.000001"),
            Some(951_825_600_000_001)
        );
        for bad in [
            "",
            "2026-11-25",
            "2026-13-01 00:00:00",
            "2026-11-25 01:24:22.1234567",
            "x y",
        ] {
            assert_eq!(micros(bad), None, "{bad}");
        }
    }

    #[test]
    fn delay_is_the_age_of_the_oldest_unapplied_heartbeat() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut p = Pending::default();
        assert_eq!(p.delay(at(100)), Duration::ZERO);
        p.push(10, at(0));
        p.push(20, at(15));
        p.push(30, at(30));
        // Replication stopped before the first: the delay grows with the clock.
        assert_eq!(p.delay(at(40)), Duration::from_secs(40));
        assert_eq!(p.delay(at(55)), Duration::from_secs(55));
        p.applied(20);
        assert_eq!(p.delay(at(55)), Duration::from_secs(25));
        // A value the agent did not write (another writer): everything up to it is applied.
        p.applied(35);
        assert_eq!(p.delay(at(60)), Duration::ZERO);
        // The primary's clock stepped back: the exact value still matches.
        p.push(50, at(60));
        p.push(40, at(75));
        p.applied(50);
        assert_eq!(p.delay(at(80)), Duration::from_secs(5));
    }

    #[test]
    fn pending_is_bounded_and_keeps_the_oldest() {
        let t0 = Instant::now();
        let mut p = Pending::default();
        for i in 0..(MAX_PENDING as i64 + 10) {
            p.push(i, t0 + Duration::from_secs(i as u64));
        }
        assert_eq!(p.0.len(), MAX_PENDING);
        assert_eq!(p.0.front().map(|e| e.0), Some(0));
        assert_eq!(p.0.back().map(|e| e.0), Some(MAX_PENDING as i64 + 9));
    }
}
