//! Disk space of every database, from `pg_database_size()` over `pg_database` on the instance's
//! one connection. Walking each database's files is most of a collection's server time, so the
//! sizes are read at most once per [`REFRESH`] and the last ones are reported in between.

use super::opt;
use super::stat_database::Database;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Templates are left out, like in `stat_database`. The size is NULL (not an error) for
/// databases the role may not connect to without `pg_read_all_stats`.
pub const SQL: &str = "SELECT datname::text, \
     CASE WHEN has_database_privilege(oid, 'CONNECT') OR pg_has_role('pg_read_all_stats', 'USAGE') \
          THEN pg_database_size(oid)::float8 END \
     FROM pg_database WHERE NOT datistemplate";

/// Longest time a size is reported without being read again.
pub const REFRESH: Duration = Duration::from_secs(60);

/// Reads one row of [`SQL`].
pub fn from_row(row: &postgres::Row) -> Result<(String, Option<f64>), postgres::Error> {
    Ok((row.try_get(0)?, opt(row, 1)?))
}

/// The sizes last read.
#[derive(Debug, Default)]
pub struct Sizes {
    read_at: Option<Instant>,
    sizes: BTreeMap<String, f64>,
}

impl Sizes {
    /// True when the sizes were never read or are older than [`REFRESH`].
    pub fn due(&self) -> bool {
        self.read_at.is_none_or(|t| t.elapsed() >= REFRESH)
    }

    /// Keeps the rows of a fresh reading (databases without a visible size are dropped).
    pub fn update(&mut self, rows: Vec<(String, Option<f64>)>) {
        self.sizes = rows
            .into_iter()
            .filter_map(|(name, size)| size.map(|s| (name, s)))
            .collect();
        self.read_at = Some(Instant::now());
    }

    /// Sets the size of each database that has one; a database created since the last reading
    /// has none until the next.
    pub fn fill(&self, databases: &mut [Database]) {
        for d in databases {
            d.size = self.sizes.get(&d.name).copied();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_kept_between_readings() {
        let mut s = Sizes::default();
        assert!(s.due());
        s.update(vec![("shop".into(), Some(8e6)), ("secret".into(), None)]);
        assert!(!s.due());
        let mut dbs = vec![
            Database {
                name: "shop".into(),
                ..Database::default()
            },
            Database {
                name: "secret".into(),
                ..Database::default()
            },
            Database {
                name: "new".into(),
                ..Database::default()
            },
        ];
        s.fill(&mut dbs);
        let sizes: Vec<Option<f64>> = dbs.iter().map(|d| d.size).collect();
        assert_eq!(sizes, [Some(8e6), None, None]);
    }
}
