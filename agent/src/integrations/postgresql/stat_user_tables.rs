//! Per-table statistics of the DSN's database (off by default: `table_stats`), from one query
//! over `pg_stat_user_tables`: size, live and dead rows, row operations, sequential and index
//! scans of the largest `max_tables` tables. Other databases need an instance of their own
//! (statistics views are per database).
//!
//! Costly where there are many tables: the size of every table is computed to pick the largest.

use super::num;
use dozor_metrics::catalogue::postgresql as m;
use dozor_metrics::sample::Recorder;

/// `$1` is `max_tables`.
pub const SQL: &str = "SELECT current_database()::text, schemaname || '.' || relname, \
     pg_total_relation_size(relid)::float8, n_live_tup::float8, n_dead_tup::float8, \
     n_tup_ins::float8, n_tup_upd::float8, n_tup_del::float8, n_tup_hot_upd::float8, \
     seq_scan::float8, idx_scan::float8 \
     FROM pg_stat_user_tables ORDER BY 3 DESC, 2 LIMIT $1";

/// `operation` values, in the order of the `n_tup_*` columns.
pub const OPERATIONS: [&str; 4] = ["ins", "upd", "del", "hot_upd"];

/// One row of [`SQL`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub database: String,
    /// `schema.table`.
    pub name: String,
    pub size: f64,
    pub live: f64,
    pub dead: f64,
    pub operations: [f64; 4],
    pub seq_scans: f64,
    /// 0 for a table without indexes (NULL in the view).
    pub index_scans: f64,
}

impl Table {
    /// Reads one row of [`SQL`].
    pub fn from_row(row: &postgres::Row) -> Result<Table, postgres::Error> {
        Ok(Table {
            database: row.try_get(0)?,
            name: row.try_get(1)?,
            size: num(row, 2)?,
            live: num(row, 3)?,
            dead: num(row, 4)?,
            operations: [num(row, 5)?, num(row, 6)?, num(row, 7)?, num(row, 8)?],
            seq_scans: num(row, 9)?,
            index_scans: num(row, 10)?,
        })
    }
}

/// Records the tables of `instance`.
pub fn record(recorder: &mut Recorder, instance: &str, tables: &[Table]) {
    for t in tables {
        let a = [instance, t.database.as_str(), t.name.as_str()];
        recorder.record(&m::TABLE_SIZE, t.size, &a);
        recorder.record(&m::TABLE_ROWS, t.live, &[a[0], a[1], a[2], "live"]);
        recorder.record(&m::TABLE_ROWS, t.dead, &[a[0], a[1], a[2], "dead"]);
        for (operation, n) in OPERATIONS.iter().zip(t.operations) {
            recorder.record(&m::TABLE_OPERATIONS, n, &[a[0], a[1], a[2], operation]);
        }
        recorder.record(&m::TABLE_SEQ_SCANS, t.seq_scans, &a);
        recorder.record(&m::TABLE_INDEX_SCANS, t.index_scans, &a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::postgresql::tests::value;

    #[test]
    fn each_table_under_its_database() {
        let t = Table {
            database: "shop".into(),
            name: "public.orders".into(),
            size: 1_048_576.0,
            live: 1000.0,
            dead: 12.0,
            operations: [1000.0, 40.0, 3.0, 30.0],
            seq_scans: 2.0,
            index_scans: 500.0,
        };
        let mut r = Recorder::new();
        record(&mut r, "shop", &[t]);
        let s = r.take();
        let a = ["shop", "shop", "public.orders"];
        assert_eq!(value(&s, "postgresql.table.size", &a), Some(1_048_576.0));
        assert_eq!(
            value(
                &s,
                "postgresql.rows",
                &["shop", "shop", "public.orders", "dead"]
            ),
            Some(12.0)
        );
        assert_eq!(
            value(
                &s,
                "postgresql.operations",
                &["shop", "shop", "public.orders", "hot_upd"]
            ),
            Some(30.0)
        );
        assert_eq!(
            value(&s, "dozor.postgresql.table.index_scans", &a),
            Some(500.0)
        );
        assert_eq!(s.len(), 9);
    }
}
