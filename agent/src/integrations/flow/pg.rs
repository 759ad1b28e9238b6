//! A stage read from PostgreSQL: the configured query, run read-only with a statement timeout,
//! wrapped so that it returns only rows after the high-water mark, in `seen_at` order, at most
//! `limit` of them:
//!
//! ```sql
//! SELECT key, seen_at FROM (<query>) AS dozor_flow
//! WHERE seen_at > $1 AND key IS NOT NULL ORDER BY seen_at LIMIT <limit>
//! ```
//!
//! The query itself should use `$1` too (`WHERE created_at > $1`), so PostgreSQL reads only recent
//! rows by index. The connection is kept between runs and opened again after any error.

use super::reconcile::{Micros, Row};
use super::{Source, StageError};
use crate::integrations::db;
use postgres::types::Type;
use postgres::{Client, Statement};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Column types accepted as `key`; anything else must be cast (`order_id::text AS key`).
const KEY_TYPES: [Type; 7] = [
    Type::TEXT,
    Type::VARCHAR,
    Type::BPCHAR,
    Type::NAME,
    Type::INT2,
    Type::INT4,
    Type::INT8,
];

/// One stage's PostgreSQL connection and query.
pub struct PgSource {
    config: postgres::Config,
    tls: db::tls::Settings,
    query: String,
    statement_timeout: Duration,
    conn: Option<(Client, Statement, Type)>,
}

impl PgSource {
    /// A source for `dsn` (already validated) and `query`; `timeout` is the whole run's budget:
    /// connecting may take a quarter of it, the query half.
    pub fn new(dsn: &db::Dsn, query: &str, timeout: Duration) -> Result<Self, StageError> {
        let db::pg::Dsn { mut config, tls } = dsn
            .postgres()
            .map_err(|e| StageError::Connect(format!("invalid dsn: {e}")))?;
        config
            .application_name("dozor-agent flow")
            .connect_timeout((timeout / 4).max(Duration::from_secs(1)));
        Ok(PgSource {
            config,
            tls,
            query: query.trim().trim_end_matches(';').to_owned(),
            statement_timeout: (timeout / 2).max(Duration::from_millis(100)),
            conn: None,
        })
    }

    fn connect(&self, limit: usize) -> Result<(Client, Statement, Type), StageError> {
        let target = self.describe();
        let mut client = db::pg::connect(&self.config, &self.tls).map_err(|e| {
            let why = db::pg::tls_problem(&e, &self.tls).unwrap_or_else(|| message(&e));
            StageError::Connect(format!("connecting to {target}: {why}"))
        })?;
        client
            .batch_execute(&format!(
                "SET default_transaction_read_only = on; SET statement_timeout = {}",
                self.statement_timeout.as_millis()
            ))
            .map_err(|e| StageError::Connect(format!("setting up {target}: {}", message(&e))))?;
        let raw = client
            .prepare(&self.query)
            .map_err(|e| StageError::Query(message(&e)))?;
        let column = |name: &str| raw.columns().iter().find(|c| c.name() == name);
        let (Some(key), Some(seen_at)) = (column("key"), column("seen_at")) else {
            return Err(StageError::Columns(
                raw.columns().iter().map(|c| c.name().to_owned()).collect(),
            ));
        };
        if !KEY_TYPES.contains(key.type_()) {
            return Err(StageError::Type {
                column: "key",
                found: key.type_().name().to_owned(),
                fix: "cast it to text, e.g. order_id::text AS key",
            });
        }
        if ![Type::TIMESTAMPTZ, Type::TIMESTAMP].contains(seen_at.type_()) {
            return Err(StageError::Type {
                column: "seen_at",
                found: seen_at.type_().name().to_owned(),
                fix: "return a timestamptz, e.g. created_at::timestamptz AS seen_at",
            });
        }
        let key_type = key.type_().clone();
        let wrapped = format!(
            "SELECT key, seen_at FROM (\n{}\n) AS dozor_flow WHERE seen_at > $1 AND key IS NOT NULL ORDER BY seen_at LIMIT {limit}",
            self.query
        );
        let statement = client
            .prepare(&wrapped)
            .map_err(|e| StageError::Query(message(&e)))?;
        Ok((client, statement, key_type))
    }

    fn query(&mut self, since: Micros, limit: usize) -> Result<(Vec<Row>, Micros), StageError> {
        if self.conn.is_none() {
            self.conn = Some(self.connect(limit)?);
        }
        let (client, statement, key_type) = self.conn.as_mut().expect("connected above");
        let server_now: SystemTime = client
            .query_one("SELECT now()", &[])
            .and_then(|r| r.try_get(0))
            .map_err(|e| StageError::Query(message(&e)))?;
        let since = UNIX_EPOCH + Duration::from_micros(since.max(0) as u64);
        let rows = client
            .query(&*statement, &[&since])
            .map_err(|e| StageError::Query(message(&e)))?;
        rows.iter()
            .map(|r| {
                let key = match *key_type {
                    Type::INT2 => r.try_get::<_, i16>(0).map(|v| v.to_string()),
                    Type::INT4 => r.try_get::<_, i32>(0).map(|v| v.to_string()),
                    Type::INT8 => r.try_get::<_, i64>(0).map(|v| v.to_string()),
                    _ => r.try_get::<_, String>(0),
                };
                let seen_at = r.try_get::<_, SystemTime>(1);
                match (key, seen_at) {
                    (Ok(key), Ok(t)) => Ok(Row {
                        key,
                        seen_at: micros(t),
                    }),
                    (Err(e), _) | (_, Err(e)) => Err(StageError::Query(message(&e))),
                }
            })
            .collect::<Result<_, _>>()
            .map(|rows| (rows, micros(server_now)))
    }
}

impl Source for PgSource {
    fn fetch(&mut self, since: Micros, limit: usize) -> Result<(Vec<Row>, Micros), StageError> {
        let result = self.query(since, limit);
        super::disconnect_on_error(&mut self.conn, result)
    }

    /// `host:port/dbname`, for messages: never the password.
    fn describe(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(postgres::config::Host::Tcp(h)) => h.clone(),
            Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        let db = self
            .config
            .get_dbname()
            .or(self.config.get_user())
            .unwrap_or("");
        format!("{host}:{port}/{db}")
    }
}

/// Unix microseconds of a time (negative before 1970).
pub fn micros(t: SystemTime) -> Micros {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_micros() as Micros,
        Err(e) => -(e.duration().as_micros() as Micros),
    }
}

/// The server's message when there is one (`relation "x" does not exist`), else the error.
fn message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => e.to_string(),
    }
}
