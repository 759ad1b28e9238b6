//! On a primary (or a cascading replica), each streaming replica's write, flush and replay lag
//! in seconds and in bytes, from one query over `pg_stat_replication`. A replica that stops
//! leaves the view: its series end and `dozor.postgresql.replication.replicas` drops.

use super::opt;
use dozor_metrics::catalogue::postgresql as m;
use dozor_metrics::sample::Recorder;

/// Replicas are named by `application_name` (the replica's `cluster_name` by default), else by
/// address. Base backups in progress are left out. The byte lags are measured from the
/// current WAL position (the last replayed one on a cascading replica).
pub const SQL: &str = "SELECT coalesce(nullif(r.application_name, ''), host(r.client_addr), 'local'), \
     coalesce(host(r.client_addr), 'local'), \
     extract(epoch FROM r.write_lag)::float8, extract(epoch FROM r.flush_lag)::float8, \
     extract(epoch FROM r.replay_lag)::float8, \
     (c.lsn - r.write_lsn)::float8, (c.lsn - r.flush_lsn)::float8, (c.lsn - r.replay_lsn)::float8 \
     FROM pg_stat_replication r, \
     (SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END AS lsn) c \
     WHERE r.state IS DISTINCT FROM 'backup' \
     ORDER BY 1, 2";

/// `operation` values, in the order of the lag columns.
pub const OPERATIONS: [&str; 3] = ["write", "flush", "replay"];

/// One row of [`SQL`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Replica {
    pub name: String,
    pub address: String,
    /// Seconds; NULL from PostgreSQL once the replica has caught up with an idle primary.
    pub lag: [Option<f64>; 3],
    /// Bytes; NULL when the role lacks `pg_monitor` (the view hides them).
    pub bytes: [Option<f64>; 3],
}

impl Replica {
    /// Reads one row of [`SQL`].
    pub fn from_row(row: &postgres::Row) -> Result<Replica, postgres::Error> {
        Ok(Replica {
            name: row.try_get(0)?,
            address: row.try_get(1)?,
            lag: [opt(row, 2)?, opt(row, 3)?, opt(row, 4)?],
            bytes: [opt(row, 5)?, opt(row, 6)?, opt(row, 7)?],
        })
    }
}

/// Records the replicas of `instance`. Two replicas with one `application_name` are told apart
/// by address.
pub fn record(recorder: &mut Recorder, instance: &str, replicas: &[Replica]) {
    recorder.record(&m::REPLICAS, replicas.len() as f64, &[instance]);
    for r in replicas {
        let shared = replicas.iter().filter(|o| o.name == r.name).count() > 1;
        let name = if shared {
            format!("{}@{}", r.name, r.address)
        } else {
            r.name.clone()
        };
        // Hidden positions mean hidden lags too: record neither rather than false zeros.
        let visible = r.bytes.iter().any(Option::is_some);
        for (i, operation) in OPERATIONS.iter().enumerate() {
            if let Some(bytes) = r.bytes[i] {
                recorder.record(
                    &m::DATA_DELAY,
                    bytes.max(0.0),
                    &[instance, &name, operation],
                );
            }
            if visible {
                let lag = r.lag[i].unwrap_or(0.0);
                recorder.record(&m::WAL_LAG, lag, &[instance, &name, operation]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::postgresql::tests::value;

    fn replica(
        name: &str,
        address: &str,
        lag: [Option<f64>; 3],
        bytes: [Option<f64>; 3],
    ) -> Replica {
        Replica {
            name: name.into(),
            address: address.into(),
            lag,
            bytes,
        }
    }

    #[test]
    fn lags_in_seconds_and_bytes() {
        let replicas = [
            replica(
                "replica1",
                "10.0.0.2",
                [Some(0.01), Some(0.02), Some(3.5)],
                [Some(0.0), Some(0.0), Some(8192.0)],
            ),
            // Caught up with an idle primary: PostgreSQL shows NULL lags.
            replica(
                "replica2",
                "10.0.0.3",
                [None, None, None],
                [Some(0.0), Some(0.0), Some(0.0)],
            ),
        ];
        let mut r = Recorder::new();
        record(&mut r, "shop", &replicas);
        let s = r.take();
        assert_eq!(
            value(&s, "dozor.postgresql.replication.replicas", &["shop"]),
            Some(2.0)
        );
        assert_eq!(
            value(&s, "postgresql.wal.lag", &["shop", "replica1", "replay"]),
            Some(3.5)
        );
        assert_eq!(
            value(&s, "postgresql.wal.lag", &["shop", "replica2", "flush"]),
            Some(0.0)
        );
        assert_eq!(
            value(
                &s,
                "postgresql.replication.data_delay",
                &["shop", "replica1", "replay"]
            ),
            Some(8192.0)
        );
    }

    #[test]
    fn hidden_columns_give_no_false_zeros() {
        let mut r = Recorder::new();
        record(
            &mut r,
            "shop",
            &[replica("replica1", "10.0.0.2", [None; 3], [None; 3])],
        );
        let s = r.take();
        assert_eq!(
            value(&s, "dozor.postgresql.replication.replicas", &["shop"]),
            Some(1.0)
        );
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn same_name_told_apart_by_address() {
        let bytes = [Some(1.0), Some(2.0), Some(3.0)];
        let replicas = [
            replica("walreceiver", "10.0.0.2", [None; 3], bytes),
            replica("walreceiver", "10.0.0.3", [None; 3], bytes),
        ];
        let mut r = Recorder::new();
        record(&mut r, "shop", &replicas);
        let s = r.take();
        let d = "postgresql.replication.data_delay";
        assert_eq!(
            value(&s, d, &["shop", "walreceiver@10.0.0.3", "replay"]),
            Some(3.0)
        );
        assert_eq!(value(&s, d, &["shop", "walreceiver", "replay"]), None);
    }

    #[test]
    fn none_streaming() {
        let mut r = Recorder::new();
        record(&mut r, "shop", &[]);
        let s = r.take();
        assert_eq!(
            value(&s, "dozor.postgresql.replication.replicas", &["shop"]),
            Some(0.0)
        );
        assert_eq!(s.len(), 1);
    }
}
