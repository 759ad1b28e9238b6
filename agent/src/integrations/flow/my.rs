//! A stage read from MySQL or MariaDB (`mysql://` or `mariadb://` dsn): the configured query, in
//! a read-only session with a statement time limit and the UTC time zone, wrapped so that it
//! returns only rows after the high-water mark, in `seen_at` order, at most `limit` of them:
//!
//! ```sql
//! SELECT `key`, seen_at FROM (<query>) AS dozor_flow
//! WHERE seen_at > :since AND `key` IS NOT NULL ORDER BY seen_at LIMIT <limit>
//! ```
//!
//! `KEY` is a reserved word in MySQL: the query names its column `` `key` ``. `$1` in the query
//! is the time to read from, as for PostgreSQL (sent as the named parameter `:since`). DATETIME
//! values are read as UTC; TIMESTAMP values are converted to UTC by the session time zone.

use super::events::{civil, from_civil};
use super::reconcile::{Micros, Row};
use super::{Source, StageError};
use crate::integrations::db;
use mysql::consts::ColumnType;
use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder, Statement, Value};
use std::time::Duration;

/// One stage's MySQL or MariaDB connection and query.
pub struct MySource {
    opts: Opts,
    connector: db::my::Connector,
    query: String,
    statement_timeout: Duration,
    conn: Option<(Conn, Statement)>,
}

impl MySource {
    /// A source for `dsn` and `query`; `timeout` is the whole run's budget: connecting may take
    /// a quarter of it, the query half.
    pub fn new(dsn: &db::Dsn, query: &str, timeout: Duration) -> Result<Self, StageError> {
        let dsn = dsn
            .mysql()
            .map_err(|e| StageError::Connect(format!("invalid dsn: {e}")))?;
        let statement_timeout = (timeout / 2).max(Duration::from_millis(100));
        let opts = OptsBuilder::from_opts(dsn.opts)
            .tcp_connect_timeout(Some((timeout / 4).max(Duration::from_secs(1))))
            .read_timeout(Some(statement_timeout + Duration::from_secs(1)))
            .write_timeout(Some(statement_timeout + Duration::from_secs(1)))
            .init(vec![
                "SET SESSION TRANSACTION READ ONLY",
                "SET time_zone = '+00:00'",
            ]);
        Ok(MySource {
            connector: db::my::Connector::new(opts.clone(), &dsn.tls),
            opts: opts.into(),
            query: query.trim().trim_end_matches(';').replace("$1", ":since"),
            statement_timeout,
            conn: None,
        })
    }

    fn connect(&mut self, limit: usize) -> Result<(Conn, Statement), StageError> {
        let target = self.describe();
        let mut conn = self.connector.connect().map_err(|e| {
            let why = self
                .connector
                .tls_problem(&e)
                .unwrap_or_else(|| e.to_string());
            StageError::Connect(format!("connecting to {target}: {why}"))
        })?;
        // MariaDB limits statements in seconds, MySQL SELECTs in milliseconds; each ignores the
        // other's variable (an error, dropped here).
        let t = self.statement_timeout;
        let _ = conn.query_drop(format!(
            "SET SESSION max_statement_time = {}",
            t.as_secs_f64()
        ));
        let _ = conn.query_drop(format!(
            "SET SESSION max_execution_time = {}",
            t.as_millis()
        ));
        let raw = conn
            .prep(&self.query)
            .map_err(|e| StageError::Query(e.to_string()))?;
        let columns = raw.columns();
        let column = |name: &str| {
            columns
                .iter()
                .find(|c| c.name_str().eq_ignore_ascii_case(name))
        };
        let (Some(key), Some(seen_at)) = (column("key"), column("seen_at")) else {
            return Err(StageError::Columns(
                columns.iter().map(|c| c.name_str().into_owned()).collect(),
            ));
        };
        use ColumnType::*;
        let key_type = key.column_type();
        if !matches!(
            key_type,
            MYSQL_TYPE_VARCHAR
                | MYSQL_TYPE_VAR_STRING
                | MYSQL_TYPE_STRING
                | MYSQL_TYPE_TINY
                | MYSQL_TYPE_SHORT
                | MYSQL_TYPE_INT24
                | MYSQL_TYPE_LONG
                | MYSQL_TYPE_LONGLONG
        ) {
            return Err(StageError::Type {
                column: "key",
                found: format!("{key_type:?}"),
                fix: "cast it to text, e.g. CAST(order_id AS CHAR) AS `key`",
            });
        }
        let time_type = seen_at.column_type();
        if !matches!(
            time_type,
            MYSQL_TYPE_DATETIME
                | MYSQL_TYPE_DATETIME2
                | MYSQL_TYPE_TIMESTAMP
                | MYSQL_TYPE_TIMESTAMP2
        ) {
            return Err(StageError::Type {
                column: "seen_at",
                found: format!("{time_type:?}"),
                fix: "return a DATETIME or TIMESTAMP, e.g. created_at AS seen_at",
            });
        }
        let wrapped = format!(
            "SELECT `key`, seen_at FROM (\n{}\n) AS dozor_flow WHERE seen_at > :since AND `key` IS NOT NULL ORDER BY seen_at LIMIT {limit}",
            self.query
        );
        let statement = conn
            .prep(wrapped)
            .map_err(|e| StageError::Query(e.to_string()))?;
        Ok((conn, statement))
    }

    fn query(&mut self, since: Micros, limit: usize) -> Result<(Vec<Row>, Micros), StageError> {
        if self.conn.is_none() {
            self.conn = Some(self.connect(limit)?);
        }
        let (conn, statement) = self.conn.as_mut().expect("connected above");
        // Prepared (binary protocol), so the time comes back as a date, not text.
        let server_now = match conn.exec_first::<Value, _, _>("SELECT UTC_TIMESTAMP(6)", ()) {
            Ok(Some(v)) => micros_of(v)?,
            Ok(None) => {
                return Err(StageError::Query(
                    "SELECT UTC_TIMESTAMP(6) returned no row".into(),
                ));
            }
            Err(e) => return Err(StageError::Query(e.to_string())),
        };
        let (y, mo, d, h, mi, s, us) = civil(since);
        let since = Value::Date(
            u16::try_from(y.clamp(0, 9999)).unwrap_or(0),
            mo as u8,
            d as u8,
            h as u8,
            mi as u8,
            s as u8,
            us,
        );
        let rows: Vec<(Value, Value)> = conn
            .exec(
                &*statement,
                mysql::Params::Named([(b"since".to_vec(), since)].into_iter().collect()),
            )
            .map_err(|e| StageError::Query(e.to_string()))?;
        rows.into_iter()
            .map(|(key, seen_at)| {
                let key = match key {
                    Value::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
                    Value::Int(i) => i.to_string(),
                    Value::UInt(u) => u.to_string(),
                    other => return Err(StageError::Query(format!("key {other:?} is not text"))),
                };
                let seen_at = micros_of(seen_at)?;
                Ok(Row { key, seen_at })
            })
            .collect::<Result<_, _>>()
            .map(|rows| (rows, server_now))
    }
}

impl Source for MySource {
    fn fetch(&mut self, since: Micros, limit: usize) -> Result<(Vec<Row>, Micros), StageError> {
        let result = self.query(since, limit);
        super::disconnect_on_error(&mut self.conn, result)
    }

    /// `host:port/db`, for messages: never the password.
    fn describe(&self) -> String {
        format!(
            "{}:{}/{}",
            self.opts.get_ip_or_hostname(),
            self.opts.get_tcp_port(),
            self.opts.get_db_name().unwrap_or("")
        )
    }
}

/// A DATETIME or TIMESTAMP value (UTC in this session) as unix microseconds.
fn micros_of(v: Value) -> Result<Micros, StageError> {
    match v {
        Value::Date(y, mo, d, h, mi, s, us) => Ok(from_civil(
            i64::from(y),
            u32::from(mo),
            u32::from(d),
            u32::from(h),
            u32::from(mi),
            u32::from(s),
            us,
        )),
        other => Err(StageError::Query(format!(
            "seen_at {other:?} is not a date and time"
        ))),
    }
}
