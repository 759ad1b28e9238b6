//! Server counters and levels from `SHOW GLOBAL STATUS`, filtered on the server to the
//! variables the catalogue uses (`WHERE Variable_name IN (...)`, about 45 rows of ~500):
//! statements (`Questions`, `Queries`, `Slow_queries`, `Com_*`), threads, connections and their
//! errors, and the InnoDB buffer pool. Needs no privilege.

use super::client::Table;
use dozor_metrics::catalogue::mysql as m;
use dozor_metrics::catalogue::{Metric, MetricDef};
use dozor_metrics::sample::Recorder;

/// The metric a status variable feeds: one with only `mysql.instance`, or one with a second
/// attribute (`command`, `kind`, `error`, `operation`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target {
    /// `mysql.instance` only.
    One(&'static Metric<1>),
    /// `mysql.instance` and one more.
    Two(&'static Metric<2>),
}

impl std::ops::Deref for Target {
    type Target = MetricDef;

    fn deref(&self) -> &MetricDef {
        match self {
            Target::One(m) => m,
            Target::Two(m) => m,
        }
    }
}

/// Status variables other than `Com_*`: (variable, metric, attribute value or `""` when the
/// metric has only `mysql.instance`).
const VARIABLES: &[(&str, Target, &str)] = &[
    ("Uptime", Target::One(&m::UPTIME), ""),
    ("Questions", Target::One(&m::QUERY_CLIENT_COUNT), ""),
    ("Queries", Target::One(&m::QUERY_COUNT), ""),
    ("Slow_queries", Target::One(&m::QUERY_SLOW_COUNT), ""),
    ("Threads_connected", Target::Two(&m::THREADS), "connected"),
    ("Threads_running", Target::Two(&m::THREADS), "running"),
    ("Threads_cached", Target::Two(&m::THREADS), "cached"),
    ("Connections", Target::One(&m::CONNECTION_COUNT), ""),
    (
        "Max_used_connections",
        Target::One(&m::CONNECTION_MAX_USED),
        "",
    ),
    (
        "Aborted_connects",
        Target::Two(&m::CONNECTION_ERRORS),
        "aborted",
    ),
    (
        "Aborted_clients",
        Target::Two(&m::CONNECTION_ERRORS),
        "aborted_clients",
    ),
    (
        "Connection_errors_accept",
        Target::Two(&m::CONNECTION_ERRORS),
        "accept",
    ),
    (
        "Connection_errors_internal",
        Target::Two(&m::CONNECTION_ERRORS),
        "internal",
    ),
    (
        "Connection_errors_max_connections",
        Target::Two(&m::CONNECTION_ERRORS),
        "max_connections",
    ),
    (
        "Connection_errors_peer_address",
        Target::Two(&m::CONNECTION_ERRORS),
        "peer_address",
    ),
    (
        "Connection_errors_select",
        Target::Two(&m::CONNECTION_ERRORS),
        "select",
    ),
    (
        "Connection_errors_tcpwrap",
        Target::Two(&m::CONNECTION_ERRORS),
        "tcpwrap",
    ),
    (
        "Innodb_buffer_pool_read_requests",
        Target::Two(&m::BUFFER_POOL_OPERATIONS),
        "read_requests",
    ),
    (
        "Innodb_buffer_pool_reads",
        Target::Two(&m::BUFFER_POOL_OPERATIONS),
        "reads",
    ),
    (
        "Innodb_buffer_pool_read_ahead",
        Target::Two(&m::BUFFER_POOL_OPERATIONS),
        "read_ahead",
    ),
    (
        "Innodb_buffer_pool_read_ahead_rnd",
        Target::Two(&m::BUFFER_POOL_OPERATIONS),
        "read_ahead_rnd",
    ),
    (
        "Innodb_buffer_pool_read_ahead_evicted",
        Target::Two(&m::BUFFER_POOL_OPERATIONS),
        "read_ahead_evicted",
    ),
    (
        "Innodb_buffer_pool_wait_free",
        Target::Two(&m::BUFFER_POOL_OPERATIONS),
        "wait_free",
    ),
    (
        "Innodb_buffer_pool_write_requests",
        Target::Two(&m::BUFFER_POOL_OPERATIONS),
        "write_requests",
    ),
    (
        "Innodb_buffer_pool_pages_data",
        Target::Two(&m::BUFFER_POOL_PAGES),
        "data",
    ),
    (
        "Innodb_buffer_pool_pages_free",
        Target::Two(&m::BUFFER_POOL_PAGES),
        "free",
    ),
    (
        "Innodb_buffer_pool_pages_misc",
        Target::Two(&m::BUFFER_POOL_PAGES),
        "misc",
    ),
];

/// The query for these variables and the `Com_<command>` counters of `commands` (lower-case
/// names made of letters and `_`, checked by the configuration).
pub fn query(commands: &[String]) -> String {
    let mut names: Vec<String> = VARIABLES.iter().map(|(v, _, _)| format!("'{v}'")).collect();
    names.extend(commands.iter().map(|c| format!("'Com_{c}'")));
    format!(
        "SHOW GLOBAL STATUS WHERE Variable_name IN ({})",
        names.join(", ")
    )
}

/// One value to record.
#[derive(Debug, PartialEq)]
pub struct Point {
    /// The catalogue metric.
    pub metric: Target,
    /// The second attribute (`command`, `kind`, `error`, `operation`), `""` when there is none.
    pub attribute: String,
    /// The value, in the metric's unit.
    pub value: f64,
}

/// Turns `Variable_name`, `Value` rows into points; names are matched without regard to case,
/// `Com_*` only for `commands`. Variables this server lacks are simply absent; a value that
/// is not a number is skipped and named in the returned list.
pub fn parse(table: &Table, commands: &[String]) -> (Vec<Point>, Vec<String>) {
    let mut points = Vec::new();
    let mut bad = Vec::new();
    for row in &table.rows {
        let (Some(Some(name)), Some(value)) = (row.first(), row.get(1)) else {
            continue;
        };
        let target = match name.get(..4) {
            Some(p) if p.eq_ignore_ascii_case("com_") => {
                let command = name[4..].to_ascii_lowercase();
                commands
                    .contains(&command)
                    .then_some((Target::Two(&m::COMMANDS), command))
            }
            _ => VARIABLES
                .iter()
                .find(|(v, _, _)| v.eq_ignore_ascii_case(name))
                .map(|(_, metric, attr)| (*metric, attr.to_string())),
        };
        let Some((metric, attribute)) = target else {
            continue;
        };
        match value.as_deref().map(str::parse::<f64>) {
            Some(Ok(value)) => points.push(Point {
                metric,
                attribute,
                value,
            }),
            _ => bad.push(name.clone()),
        }
    }
    (points, bad)
}

/// Records `points` for `instance`.
pub fn record(recorder: &mut Recorder, instance: &str, points: &[Point]) {
    for p in points {
        match p.metric {
            Target::One(metric) => recorder.record(metric, p.value, &[instance]),
            Target::Two(metric) => recorder.record(metric, p.value, &[instance, &p.attribute]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn rows(pairs: &[(&str, Option<&str>)]) -> Table {
        Table {
            columns: vec!["Variable_name".into(), "Value".into()],
            rows: pairs
                .iter()
                .map(|(n, v)| vec![Some(n.to_string()), v.map(str::to_string)])
                .collect(),
        }
    }

    #[test]
    fn status_rows_become_points() {
        let commands = vec!["select".to_string(), "create_table".to_string()];
        let table = rows(&[
            ("Questions", Some("1234")),
            ("Com_select", Some("300")),
            ("COM_CREATE_TABLE", Some("2")),
            ("Com_insert", Some("500")),
            ("Threads_running", Some("3")),
            ("Aborted_connects", Some("7")),
            ("Innodb_buffer_pool_reads", Some("18446744073709551615")),
            ("Innodb_buffer_pool_read_requests", Some("abc")),
            ("Uptime", None),
            ("Binlog_snapshot_file", Some("bin.000001")),
        ]);
        let (points, bad) = parse(&table, &commands);
        let got: Vec<(&str, &str, f64)> = points
            .iter()
            .map(|p| (p.metric.name, p.attribute.as_str(), p.value))
            .collect();
        assert_eq!(
            got,
            [
                ("mysql.query.client.count", "", 1234.0),
                ("mysql.commands", "select", 300.0),
                ("mysql.commands", "create_table", 2.0),
                ("mysql.threads", "running", 3.0),
                ("mysql.connection.errors", "aborted", 7.0),
                (
                    "mysql.buffer_pool.operations",
                    "reads",
                    18446744073709551615.0
                ),
            ]
        );
        assert_eq!(bad, ["Innodb_buffer_pool_read_requests", "Uptime"]);

        let mut r = Recorder::new();
        record(&mut r, "mes", &points);
        let samples = r.take();
        assert_eq!(
            samples[0].attributes,
            [("mysql.instance", "mes".to_string())]
        );
        assert_eq!(
            samples[1].attributes,
            [
                ("mysql.instance", "mes".to_string()),
                ("command", "select".to_string())
            ]
        );
    }

    #[test]
    fn query_lists_every_variable_once() {
        let q = query(&["select".into()]);
        assert!(q.starts_with("SHOW GLOBAL STATUS WHERE Variable_name IN ('Uptime', "));
        assert!(q.ends_with(", 'Com_select')"));
        assert_eq!(q.matches('\'').count(), 2 * (VARIABLES.len() + 1));
    }
}
