//! Which side of replication the instance is on, and on a replica how far it has received and
//! replayed, how old its last replayed transaction is, whether replay is paused and whether its
//! WAL receiver streams: one single-row query of functions.
//!
//! `last_replay_age` alone cannot tell an idle primary from a broken replica (it grows in both
//! cases); the heartbeat (`heartbeat.rs`) can.

use super::opt;
use dozor_metrics::catalogue::postgresql as m;
use dozor_metrics::sample::Recorder;

/// `pg_current_wal_lsn()` fails during recovery and `pg_is_wal_replay_paused()` outside it, so
/// both are guarded; the `pg_last_*` functions return NULL on a primary.
pub const SQL: &str = "SELECT pg_is_in_recovery(), \
     CASE WHEN NOT pg_is_in_recovery() THEN (pg_current_wal_lsn() - '0/0'::pg_lsn)::float8 END, \
     (pg_last_wal_receive_lsn() - '0/0'::pg_lsn)::float8, \
     (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::float8, \
     extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8, \
     CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END, \
     (SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming')::float8";

/// The row of [`SQL`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recovery {
    pub in_recovery: bool,
    /// Primary: current WAL write position, in bytes.
    pub current: Option<f64>,
    /// Replica: last WAL position received and synced to disk.
    pub received: Option<f64>,
    /// Replica: last WAL position replayed.
    pub replayed: Option<f64>,
    /// Replica: seconds since the commit time of the last replayed transaction.
    pub last_replay_age: Option<f64>,
    pub replay_paused: Option<bool>,
    /// Replica: WAL receivers streaming (0 or 1).
    pub receivers_streaming: f64,
}

impl Recovery {
    /// Reads the row of [`SQL`].
    pub fn from_row(row: &postgres::Row) -> Result<Recovery, postgres::Error> {
        Ok(Recovery {
            in_recovery: row.try_get(0)?,
            current: opt(row, 1)?,
            received: opt(row, 2)?,
            replayed: opt(row, 3)?,
            last_replay_age: opt(row, 4)?,
            replay_paused: row.try_get(5)?,
            receivers_streaming: opt(row, 6)?.unwrap_or(0.0),
        })
    }
}

/// Records the state of `instance`.
pub fn record(recorder: &mut Recorder, instance: &str, r: &Recovery) {
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    recorder.record(&m::IN_RECOVERY, flag(r.in_recovery), &[instance]);
    let positions = [
        ("insert", r.current),
        ("receive", r.received),
        ("replay", r.replayed),
    ];
    for (operation, lsn) in positions {
        if let Some(lsn) = lsn {
            recorder.record(&m::WAL_POSITION, lsn, &[instance, operation]);
        }
    }
    if !r.in_recovery {
        return;
    }
    if let Some(age) = r.last_replay_age {
        // Clocks of primary and replica may differ by a little: never report a negative age.
        recorder.record(&m::REPLAY_AGE, age.max(0.0), &[instance]);
    }
    if let Some(paused) = r.replay_paused {
        recorder.record(&m::REPLAY_PAUSED, flag(paused), &[instance]);
    }
    let streaming = flag(r.receivers_streaming > 0.0);
    recorder.record(&m::WAL_RECEIVER_UP, streaming, &[instance]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::postgresql::tests::value;

    #[test]
    fn primary() {
        let mut r = Recorder::new();
        let state = Recovery {
            current: Some(67_108_864.0),
            ..Recovery::default()
        };
        record(&mut r, "shop", &state);
        let s = r.take();
        assert_eq!(
            value(&s, "dozor.postgresql.in_recovery", &["shop"]),
            Some(0.0)
        );
        assert_eq!(
            value(&s, "dozor.postgresql.wal.position", &["shop", "insert"]),
            Some(67_108_864.0)
        );
        assert_eq!(
            value(&s, "dozor.postgresql.replica.wal_receiver.up", &["shop"]),
            None
        );
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn replica() {
        let mut r = Recorder::new();
        let state = Recovery {
            in_recovery: true,
            current: None,
            received: Some(2048.0),
            replayed: Some(1024.0),
            last_replay_age: Some(-0.002),
            replay_paused: Some(true),
            receivers_streaming: 1.0,
        };
        record(&mut r, "shop-replica", &state);
        let s = r.take();
        let i = "shop-replica";
        assert_eq!(value(&s, "dozor.postgresql.in_recovery", &[i]), Some(1.0));
        assert_eq!(
            value(&s, "dozor.postgresql.wal.position", &[i, "receive"]),
            Some(2048.0)
        );
        assert_eq!(
            value(&s, "dozor.postgresql.wal.position", &[i, "replay"]),
            Some(1024.0)
        );
        assert_eq!(
            value(&s, "dozor.postgresql.replica.last_replay_age", &[i]),
            Some(0.0)
        );
        assert_eq!(
            value(&s, "dozor.postgresql.replica.replay_paused", &[i]),
            Some(1.0)
        );
        assert_eq!(
            value(&s, "dozor.postgresql.replica.wal_receiver.up", &[i]),
            Some(1.0)
        );
    }
}
