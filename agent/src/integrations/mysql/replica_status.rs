//! Replication state of a replica from `SHOW REPLICA STATUS` (MariaDB 10.5.1 and later, MySQL
//! 8.0.22 and later), or `SHOW SLAVE STATUS` on older servers: whether the IO and SQL threads
//! run, `Seconds_Behind_Master`, `SQL_Delay` and the last error numbers. A server that is not
//! a replica returns no row and records nothing. MariaDB columns keep the `Master`/`Slave`
//! names under both statements; MySQL 8.0.22 renamed them to `Source`/`Replica`: both are read.
//! MySQL returns one row per channel: the worst of them is recorded (MariaDB's multi-source
//! connections other than the default one are not read).

use super::client::Table;
use dozor_metrics::catalogue::mysql as m;
use dozor_metrics::sample::Recorder;

/// The first statement tried; [`FALLBACK`] after a syntax error.
pub const QUERY: &str = "SHOW REPLICA STATUS";
/// For MariaDB before 10.5.1 and MySQL before 8.0.22.
pub const FALLBACK: &str = "SHOW SLAVE STATUS";
/// The grant `SHOW REPLICA STATUS` needs.
pub const GRANT: &str = "GRANT SLAVE MONITOR ON *.* TO {user} on MariaDB 10.5 and later (also spelled REPLICA MONITOR), GRANT REPLICATION CLIENT ON *.* TO {user} on MySQL";

/// What one replica reports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplicaStatus {
    /// The IO thread (receiving from the primary) runs: `Yes`.
    pub io_running: bool,
    /// The SQL thread (applying) runs: `Yes`.
    pub sql_running: bool,
    /// `Seconds_Behind_Master`; `None` when NULL (a thread stopped).
    pub seconds_behind: Option<f64>,
    /// `SQL_Delay`, the configured delay.
    pub sql_delay: Option<f64>,
    /// `Last_IO_Errno`.
    pub last_io_errno: f64,
    /// `Last_SQL_Errno`.
    pub last_sql_errno: f64,
}

/// The replica's state, `None` when the server is not a replica (no rows); several rows
/// (channels) are combined into the worst of them.
pub fn parse(table: &Table) -> Option<ReplicaStatus> {
    let number = |row, names: &[&str]| table.get(row, names).and_then(|v| v.parse::<f64>().ok());
    let yes = |row, names: &[&str]| {
        table
            .get(row, names)
            .is_some_and(|v| v.eq_ignore_ascii_case("yes"))
    };
    (0..table.rows.len())
        .map(|row| ReplicaStatus {
            io_running: yes(row, &["Slave_IO_Running", "Replica_IO_Running"]),
            sql_running: yes(row, &["Slave_SQL_Running", "Replica_SQL_Running"]),
            seconds_behind: number(row, &["Seconds_Behind_Master", "Seconds_Behind_Source"]),
            sql_delay: number(row, &["SQL_Delay"]),
            last_io_errno: number(row, &["Last_IO_Errno"]).unwrap_or(0.0),
            last_sql_errno: number(row, &["Last_SQL_Errno"]).unwrap_or(0.0),
        })
        .reduce(|a, b| ReplicaStatus {
            io_running: a.io_running && b.io_running,
            sql_running: a.sql_running && b.sql_running,
            // A stopped channel (NULL) hides the others' delay: it is not known to be small.
            seconds_behind: a
                .seconds_behind
                .zip(b.seconds_behind)
                .map(|(a, b)| a.max(b)),
            sql_delay: max_of(a.sql_delay, b.sql_delay),
            last_io_errno: a.last_io_errno.max(b.last_io_errno),
            last_sql_errno: a.last_sql_errno.max(b.last_sql_errno),
        })
}

fn max_of(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Records `status` for `instance`.
pub fn record(recorder: &mut Recorder, instance: &str, s: &ReplicaStatus) {
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    recorder.record(&m::REPLICA_RUNNING, flag(s.io_running), &[instance, "io"]);
    recorder.record(&m::REPLICA_RUNNING, flag(s.sql_running), &[instance, "sql"]);
    recorder.record(&m::REPLICA_LAST_ERRNO, s.last_io_errno, &[instance, "io"]);
    recorder.record(&m::REPLICA_LAST_ERRNO, s.last_sql_errno, &[instance, "sql"]);
    if let Some(v) = s.seconds_behind {
        recorder.record(&m::REPLICA_TIME_BEHIND_SOURCE, v, &[instance]);
    }
    if let Some(v) = s.sql_delay {
        recorder.record(&m::REPLICA_SQL_DELAY, v, &[instance]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(columns: &[&str], rows: &[&[Option<&str>]]) -> Table {
        Table {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|v| v.map(str::to_string)).collect())
                .collect(),
        }
    }

    const MARIADB: &[&str] = &[
        "Slave_IO_State",
        "Slave_IO_Running",
        "Slave_SQL_Running",
        "Last_IO_Errno",
        "Last_SQL_Errno",
        "Seconds_Behind_Master",
        "SQL_Delay",
    ];

    #[test]
    fn replica_rows_become_status() {
        let running = table(
            MARIADB,
            &[&[
                Some("Waiting for master to send event"),
                Some("Yes"),
                Some("Yes"),
                Some("0"),
                Some("0"),
                Some("3"),
                Some("0"),
            ]],
        );
        assert_eq!(
            parse(&running),
            Some(ReplicaStatus {
                io_running: true,
                sql_running: true,
                seconds_behind: Some(3.0),
                sql_delay: Some(0.0),
                last_io_errno: 0.0,
                last_sql_errno: 0.0,
            })
        );
        let broken = table(
            MARIADB,
            &[&[
                Some(""),
                Some("Connecting"),
                Some("No"),
                Some("2003"),
                Some("1062"),
                None,
                Some("0"),
            ]],
        );
        let s = parse(&broken).unwrap();
        assert!(!s.io_running && !s.sql_running && s.seconds_behind.is_none());
        assert_eq!((s.last_io_errno, s.last_sql_errno), (2003.0, 1062.0));
        assert_eq!(parse(&table(MARIADB, &[])), None);

        let mysql = table(
            &[
                "Replica_IO_Running",
                "Replica_SQL_Running",
                "Seconds_Behind_Source",
                "SQL_Delay",
            ],
            &[
                &[Some("Yes"), Some("Yes"), Some("5"), Some("0")],
                &[Some("Yes"), Some("Yes"), Some("12"), Some("60")],
            ],
        );
        let s = parse(&mysql).unwrap();
        assert!(s.io_running && s.sql_running);
        assert_eq!((s.seconds_behind, s.sql_delay), (Some(12.0), Some(60.0)));
    }

    #[test]
    fn null_delay_is_not_recorded() {
        let mut r = Recorder::new();
        record(&mut r, "replica", &ReplicaStatus::default());
        let names: Vec<&str> = r.take().iter().map(|s| s.metric.name).collect();
        assert_eq!(
            names,
            [
                "dozor.mysql.replica.running",
                "dozor.mysql.replica.running",
                "dozor.mysql.replica.last_errno",
                "dozor.mysql.replica.last_errno"
            ]
        );
    }
}
