//! Locks held and awaited, by mode, from one grouped query over `pg_locks`.

use super::num;
use dozor_metrics::catalogue::postgresql as m;
use dozor_metrics::sample::Recorder;

/// The eight table-level lock modes (plus the rare page/advisory ones) bound the groups.
pub const SQL: &str = "SELECT mode, granted, count(*)::float8 FROM pg_locks GROUP BY 1, 2";

/// One row of [`SQL`].
#[derive(Clone, Debug, PartialEq)]
pub struct Locks {
    pub mode: String,
    pub granted: bool,
    pub count: f64,
}

impl Locks {
    /// Reads one row of [`SQL`].
    pub fn from_row(row: &postgres::Row) -> Result<Locks, postgres::Error> {
        Ok(Locks {
            mode: row.try_get::<_, Option<String>>(0)?.unwrap_or_default(),
            granted: row.try_get::<_, Option<bool>>(1)?.unwrap_or(false),
            count: num(row, 2)?,
        })
    }
}

/// Records the lock counts of `instance`.
pub fn record(recorder: &mut Recorder, instance: &str, locks: &[Locks]) {
    for l in locks {
        let granted = if l.granted { "true" } else { "false" };
        recorder.record(&m::LOCKS, l.count, &[instance, &l.mode, granted]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::postgresql::tests::value;

    #[test]
    fn by_mode_and_grant() {
        let locks = [
            Locks {
                mode: "AccessShareLock".into(),
                granted: true,
                count: 12.0,
            },
            Locks {
                mode: "ExclusiveLock".into(),
                granted: false,
                count: 1.0,
            },
        ];
        let mut r = Recorder::new();
        record(&mut r, "shop", &locks);
        let s = r.take();
        let name = "dozor.postgresql.locks";
        assert_eq!(
            value(&s, name, &["shop", "AccessShareLock", "true"]),
            Some(12.0)
        );
        assert_eq!(
            value(&s, name, &["shop", "ExclusiveLock", "false"]),
            Some(1.0)
        );
    }
}
