//! Replication delay from heartbeat rows (`dozor.mysql.replica.heartbeat.delay`), which stays
//! true when the primary is idle and keeps growing while replication is broken, where
//! `Seconds_Behind_Master` reads 0 or NULL.
//!
//! With `heartbeat.primary_dsn`, every run first reads on the replica the heartbeat it last
//! applied (`SELECT ts FROM t WHERE server_id = <primary's id>`), then writes a new one on the
//! primary: `SELECT @@server_id, UTC_TIMESTAMP(6)` and an upsert of that row (one row per
//! primary server id). The delay is the age, on the agent's clock, of the oldest heartbeat
//! written but not yet applied, 0 when all are (`db::pending`, kept in the agent's state
//! directory so that it goes on across restarts): clock differences between the hosts do not
//! matter, and delays shorter than the interval read as 0. Without `primary_dsn`, a primary
//! instance writes into itself and a replica instance reads `UTC_TIMESTAMP(6) - MAX(ts)`, which
//! includes up to one interval of whatever agent writes.

use super::IntegrationError;
use super::client::{Client, Failure};
use super::config::{HeartbeatConfig, quoted_table};
use super::error::Doing;
use crate::integrations::db::pending::{self, Pending, now_micros};
use std::time::Duration;

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

    /// Keeps the list of heartbeats waiting to be applied in `state_dir` (read now; written
    /// back only when `save`), so that the delay goes on across restarts.
    pub fn keep_state(&mut self, state_dir: &std::path::Path, instance: &str, save: bool) {
        if self.primary.is_some() {
            self.pending = Pending::load(pending::path(state_dir, "mysql", instance), save);
            // The list belongs to the primary whose server id is kept with it.
            self.primary_server_id = self.pending.writer.parse().ok();
        }
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
                Some(false) => {
                    let (table, shown) = (&self.table, &self.shown);
                    let written = primary_now(table, shown, server, false)
                        .and_then(|now| upsert(table, shown, server, &now));
                    (None, written)
                }
                None => (None, Ok(())),
            };
        }
        let mut result = Ok(());
        let primary = self.primary.as_mut().expect("checked above");
        // The primary's id and clock, and with nothing remembered its row as it stands.
        let seeding = self.pending.is_empty();
        let now = match primary_now(&self.table, &self.shown, primary, seeding) {
            Ok(now) => Some(now),
            Err(e) => {
                result = Err(e);
                None
            }
        };
        let id = now.as_ref().map(|n| n.id).or(self.primary_server_id);
        let mut delay = None;
        if let Some(id) = id {
            match self.read_applied(server, id) {
                Ok(applied) => {
                    if let Some(now) = &now
                        && seeding
                    {
                        self.pending.seed(applied, now.last, now.ts, now_micros());
                    }
                    if let Some(ts) = applied {
                        self.pending.applied(ts);
                    }
                    // Nothing remembered and no row on the primary: no heartbeat was ever
                    // written, so there is nothing to be behind on yet.
                    let never = seeding && now.as_ref().is_some_and(|n| n.last.is_none());
                    if !never {
                        let d = self.pending.delay(now_micros());
                        delay = Some(Duration::from_secs_f64(d));
                    }
                }
                Err(e) => result = Err(e),
            }
        }
        if let Some(now) = now {
            let primary = self.primary.as_mut().expect("checked above");
            match upsert(&self.table, &self.shown, primary, &now) {
                Ok(()) => {
                    if self.primary_server_id != Some(now.id) {
                        self.primary_server_id = Some(now.id);
                        self.pending.writer = now.id.to_string();
                    }
                    self.pending.written(now.ts, now.at);
                }
                Err(e) => {
                    if result.is_ok() {
                        result = Err(e);
                    }
                }
            }
        }
        if let Err(e) = self.pending.save() {
            tracing::warn!(error = %e, "Heartbeat state not saved; a restart would report the replica delay from its next write.");
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

/// The primary's side of one heartbeat.
struct PrimaryNow {
    /// Its server id, the row's key.
    id: u64,
    /// Its clock, microseconds since the epoch: the value to write.
    ts: i64,
    /// `ts` as the server wrote it, safe as an SQL literal (digits, '-', ':', '.', ' ').
    text: String,
    /// Its row as it stands, when asked for.
    last: Option<i64>,
    /// When the agent read it, on the agent's clock.
    at: i64,
}

fn write_doing(grant: &str) -> Doing<'_> {
    Doing::Query {
        source: "heartbeat write",
        grant,
    }
}

fn write_grant(shown: &str) -> String {
    format!(
        "GRANT INSERT, UPDATE ON {shown} TO {{user}} (and CREATE, for the agent to create the table)"
    )
}

/// `SELECT @@server_id, UTC_TIMESTAMP(6)` on `primary`, with the row as it stands when `last`
/// (a missing table reads as no row).
fn primary_now(
    table: &str,
    shown: &str,
    primary: &mut Client,
    last: bool,
) -> Result<PrimaryNow, IntegrationError> {
    let grant = write_grant(shown);
    let plain = "SELECT @@server_id AS id, UTC_TIMESTAMP(6) AS ts";
    let with_last =
        format!("{plain}, (SELECT ts FROM {table} WHERE server_id = @@server_id) AS last");
    let now = match primary.table(if last { &with_last } else { plain }, write_doing(&grant)) {
        Err(Failure {
            code: Some(1146), ..
        }) if last => primary.table(plain, write_doing(&grant))?,
        other => other.map_err(|f| f.error)?,
    };
    let at = now_micros();
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
    Ok(PrimaryNow {
        id,
        ts,
        text: text.to_string(),
        last: now.get(0, &["last"]).and_then(micros),
        at,
    })
}

/// Writes the heartbeat `now` on `primary`, creating the table when it is missing.
fn upsert(
    table: &str,
    shown: &str,
    primary: &mut Client,
    now: &PrimaryNow,
) -> Result<(), IntegrationError> {
    let grant = write_grant(shown);
    let doing = write_doing(&grant);
    let (id, text) = (now.id, &now.text);
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
    Ok(())
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
}
