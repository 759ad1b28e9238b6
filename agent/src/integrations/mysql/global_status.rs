//! Server counters and levels from `SHOW GLOBAL STATUS`, filtered on the server to the
//! variables the catalogue uses (`WHERE Variable_name IN (...)`, about 45 rows of ~500):
//! statements (`Questions`, `Queries`, `Slow_queries`, `Com_*`), threads, connections and their
//! errors, and the InnoDB buffer pool. Needs no privilege.

use super::client::Table;
use dozor_metrics::catalogue::MetricDef;
use dozor_metrics::catalogue::mysql as m;
use dozor_metrics::sample::Recorder;

/// Status variables other than `Com_*`: (variable, metric, attribute value or `""` when the
/// metric has only `mysql.instance`).
const VARIABLES: &[(&str, &MetricDef, &str)] = &[
    ("Uptime", &m::UPTIME, ""),
    ("Questions", &m::QUERY_CLIENT_COUNT, ""),
    ("Queries", &m::QUERY_COUNT, ""),
    ("Slow_queries", &m::QUERY_SLOW_COUNT, ""),
    ("Threads_connected", &m::THREADS, "connected"),
    ("Threads_running", &m::THREADS, "running"),
    ("Threads_cached", &m::THREADS, "cached"),
    ("Connections", &m::CONNECTION_COUNT, ""),
    ("Max_used_connections", &m::CONNECTION_MAX_USED, ""),
    ("Aborted_connects", &m::CONNECTION_ERRORS, "aborted"),
    ("Aborted_clients", &m::CONNECTION_ERRORS, "aborted_clients"),
    ("Connection_errors_accept", &m::CONNECTION_ERRORS, "accept"),
    (
        "Connection_errors_internal",
        &m::CONNECTION_ERRORS,
        "internal",
    ),
    (
        "Connection_errors_max_connections",
        &m::CONNECTION_ERRORS,
        "max_connections",
    ),
    (
        "Connection_errors_peer_address",
        &m::CONNECTION_ERRORS,
        "peer_address",
    ),
    ("Connection_errors_select", &m::CONNECTION_ERRORS, "select"),
    (
        "Connection_errors_tcpwrap",
        &m::CONNECTION_ERRORS,
        "tcpwrap",
    ),
    (
        "Innodb_buffer_pool_read_requests",
        &m::BUFFER_POOL_OPERATIONS,
        "read_requests",
    ),
    (
        "Innodb_buffer_pool_reads",
        &m::BUFFER_POOL_OPERATIONS,
        "reads",
    ),
    (
        "Innodb_buffer_pool_read_ahead",
        &m::BUFFER_POOL_OPERATIONS,
        "read_ahead",
    ),
    (
        "Innodb_buffer_pool_read_ahead_rnd",
        &m::BUFFER_POOL_OPERATIONS,
        "read_ahead_rnd",
    ),
    (
        "Innodb_buffer_pool_read_ahead_evicted",
        &m::BUFFER_POOL_OPERATIONS,
        "read_ahead_evicted",
    ),
    (
        "Innodb_buffer_pool_wait_free",
        &m::BUFFER_POOL_OPERATIONS,
        "wait_free",
    ),
    (
        "Innodb_buffer_pool_write_requests",
        &m::BUFFER_POOL_OPERATIONS,
        "write_requests",
    ),
    (
        "Innodb_buffer_pool_pages_data",
        &m::BUFFER_POOL_PAGES,
        "data",
    ),
    (
        "Innodb_buffer_pool_pages_free",
        &m::BUFFER_POOL_PAGES,
        "free",
    ),
    (
        "Innodb_buffer_pool_pages_misc",
        &m::BUFFER_POOL_PAGES,
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
    pub metric: &'static MetricDef,
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
                    .then_some((&m::COMMANDS as &MetricDef, command))
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
        if p.metric.attributes.len() == 1 {
            recorder.record(p.metric, p.value, &[instance]);
        } else {
            recorder.record(p.metric, p.value, &[instance, &p.attribute]);
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
