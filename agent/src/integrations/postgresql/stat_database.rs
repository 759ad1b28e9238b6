//! Throughput, cache hits, deadlocks, temporary files and recovery conflicts of every
//! database, from one query over `pg_stat_database` and `pg_stat_database_conflicts` on the
//! instance's one connection (no connection per database); sizes come from `sizes.rs`.

use super::num;
use dozor_metrics::catalogue::postgresql as m;
use dozor_metrics::sample::Recorder;

/// Ordered by OID, so the databases beyond `max_databases` are the newest ones and the set
/// folded into `other` only grows: its counters stay monotonic. Templates are left out.
pub const SQL: &str = "SELECT d.datname::text, d.numbackends::float8, d.xact_commit::float8, \
     d.xact_rollback::float8, d.tup_returned::float8, d.tup_fetched::float8, \
     d.tup_inserted::float8, d.tup_updated::float8, d.tup_deleted::float8, d.blks_read::float8, \
     d.blks_hit::float8, d.deadlocks::float8, d.temp_files::float8, d.temp_bytes::float8, \
     c.confl_tablespace::float8, c.confl_lock::float8, c.confl_snapshot::float8, \
     c.confl_bufferpin::float8, c.confl_deadlock::float8 \
     FROM pg_stat_database d \
     JOIN pg_database b ON b.oid = d.datid \
     LEFT JOIN pg_stat_database_conflicts c ON c.datid = d.datid \
     WHERE NOT b.datistemplate \
     ORDER BY d.datid";

/// `postgresql.conflict.type` values, in the order of the `confl_*` columns.
pub const CONFLICT_TYPES: [&str; 5] = ["tablespace", "lock", "snapshot", "bufferpin", "deadlock"];

/// The database name that stands for the databases beyond `max_databases`.
pub const OTHER: &str = "other";

/// One row of [`SQL`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Database {
    pub name: String,
    pub backends: f64,
    pub commits: f64,
    pub rollbacks: f64,
    pub returned: f64,
    pub fetched: f64,
    pub inserted: f64,
    pub updated: f64,
    pub deleted: f64,
    pub blks_read: f64,
    pub blks_hit: f64,
    pub deadlocks: f64,
    pub temp_files: f64,
    pub temp_bytes: f64,
    pub conflicts: [f64; 5],
    /// Filled from `sizes.rs`.
    pub size: Option<f64>,
}

impl Database {
    /// Reads one row of [`SQL`].
    pub fn from_row(row: &postgres::Row) -> Result<Database, postgres::Error> {
        let mut conflicts = [0.0; 5];
        for (i, c) in conflicts.iter_mut().enumerate() {
            *c = num(row, 14 + i)?;
        }
        Ok(Database {
            name: row.try_get(0)?,
            backends: num(row, 1)?,
            commits: num(row, 2)?,
            rollbacks: num(row, 3)?,
            returned: num(row, 4)?,
            fetched: num(row, 5)?,
            inserted: num(row, 6)?,
            updated: num(row, 7)?,
            deleted: num(row, 8)?,
            blks_read: num(row, 9)?,
            blks_hit: num(row, 10)?,
            deadlocks: num(row, 11)?,
            temp_files: num(row, 12)?,
            temp_bytes: num(row, 13)?,
            conflicts,
            size: None,
        })
    }

    /// Adds `other`'s values into `self`.
    fn add(&mut self, other: &Database) {
        self.backends += other.backends;
        self.commits += other.commits;
        self.rollbacks += other.rollbacks;
        self.returned += other.returned;
        self.fetched += other.fetched;
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.deleted += other.deleted;
        self.blks_read += other.blks_read;
        self.blks_hit += other.blks_hit;
        self.deadlocks += other.deadlocks;
        self.temp_files += other.temp_files;
        self.temp_bytes += other.temp_bytes;
        for (a, b) in self.conflicts.iter_mut().zip(other.conflicts) {
            *a += b;
        }
        self.size = match (self.size, other.size) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
    }
}

/// Keeps the first `max` databases and sums the rest into one named [`OTHER`].
pub fn bound(mut databases: Vec<Database>, max: usize) -> Vec<Database> {
    if databases.len() <= max {
        return databases;
    }
    let rest = databases.split_off(max);
    let mut other = Database {
        name: OTHER.into(),
        ..Database::default()
    };
    for d in &rest {
        other.add(d);
    }
    databases.push(other);
    databases
}

/// Records the databases of `instance`, at most `max` of them one by one.
pub fn record(recorder: &mut Recorder, instance: &str, databases: Vec<Database>, max: usize) {
    recorder.record(&m::DATABASES, databases.len() as f64, &[instance]);
    for d in bound(databases, max) {
        let a = [instance, d.name.as_str()];
        recorder.record(&m::BACKENDS, d.backends, &a);
        recorder.record(&m::COMMITS, d.commits, &a);
        recorder.record(&m::ROLLBACKS, d.rollbacks, &a);
        recorder.record(&m::TUP_RETURNED, d.returned, &a);
        recorder.record(&m::TUP_FETCHED, d.fetched, &a);
        recorder.record(&m::TUP_INSERTED, d.inserted, &a);
        recorder.record(&m::TUP_UPDATED, d.updated, &a);
        recorder.record(&m::TUP_DELETED, d.deleted, &a);
        recorder.record(&m::BLKS_READ, d.blks_read, &a);
        recorder.record(&m::BLKS_HIT, d.blks_hit, &a);
        recorder.record(&m::DEADLOCKS, d.deadlocks, &a);
        recorder.record(&m::TEMP_FILES, d.temp_files, &a);
        recorder.record(&m::TEMP_IO, d.temp_bytes, &a);
        for (kind, n) in CONFLICT_TYPES.iter().zip(d.conflicts) {
            recorder.record(&m::CONFLICTS, n, &[instance, d.name.as_str(), kind]);
        }
        if let Some(size) = d.size {
            recorder.record(&m::DB_SIZE, size, &a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::postgresql::tests::value;

    fn db(name: &str, commits: f64, size: Option<f64>) -> Database {
        Database {
            name: name.into(),
            commits,
            rollbacks: 1.0,
            temp_bytes: 1024.0,
            conflicts: [0.0, 1.0, 2.0, 0.0, 0.0],
            size,
            ..Database::default()
        }
    }

    #[test]
    fn records_each_database_under_its_instance() {
        let mut r = Recorder::new();
        record(
            &mut r,
            "shop",
            vec![db("postgres", 10.0, Some(8e6)), db("app", 5.0, None)],
            100,
        );
        let s = r.take();
        assert_eq!(value(&s, "postgresql.commits", &["shop", "app"]), Some(5.0));
        assert_eq!(
            value(&s, "postgresql.rollbacks", &["shop", "postgres"]),
            Some(1.0)
        );
        assert_eq!(
            value(&s, "postgresql.temp.io", &["shop", "app"]),
            Some(1024.0)
        );
        assert_eq!(
            value(
                &s,
                "postgresql.query.conflicts",
                &["shop", "app", "snapshot"]
            ),
            Some(2.0)
        );
        assert_eq!(
            value(&s, "postgresql.db_size", &["shop", "postgres"]),
            Some(8e6)
        );
        // No privilege to see the size: no series rather than a false zero.
        assert_eq!(value(&s, "postgresql.db_size", &["shop", "app"]), None);
        assert_eq!(
            value(&s, "dozor.postgresql.databases", &["shop"]),
            Some(2.0)
        );
    }

    #[test]
    fn databases_beyond_the_bound_are_summed_into_other() {
        let dbs = vec![
            db("a", 1.0, Some(1.0)),
            db("b", 2.0, Some(2.0)),
            db("c", 3.0, None),
            db("d", 4.0, Some(4.0)),
        ];
        let mut r = Recorder::new();
        record(&mut r, "shop", dbs, 2);
        let s = r.take();
        assert_eq!(value(&s, "postgresql.commits", &["shop", "b"]), Some(2.0));
        assert_eq!(value(&s, "postgresql.commits", &["shop", "c"]), None);
        assert_eq!(
            value(&s, "postgresql.commits", &["shop", "other"]),
            Some(7.0)
        );
        assert_eq!(
            value(&s, "postgresql.rollbacks", &["shop", "other"]),
            Some(2.0)
        );
        assert_eq!(
            value(&s, "postgresql.db_size", &["shop", "other"]),
            Some(4.0)
        );
        assert_eq!(
            value(&s, "postgresql.query.conflicts", &["shop", "other", "lock"]),
            Some(2.0)
        );
        assert_eq!(
            value(&s, "dozor.postgresql.databases", &["shop"]),
            Some(4.0)
        );
        let names: std::collections::BTreeSet<&str> = s
            .iter()
            .filter(|x| x.metric.name == "postgresql.commits")
            .map(|x| x.attributes[1].1.as_str())
            .collect();
        assert_eq!(names.into_iter().collect::<Vec<_>>(), ["a", "b", "other"]);
    }
}
