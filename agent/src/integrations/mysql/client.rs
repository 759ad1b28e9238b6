//! One connection to one server, kept across runs and reopened after an error, with connect,
//! read and write timeouts of a quarter of the integration's timeout each. Queries use the text
//! protocol only, so the agent adds no prepared statements (`Com_stmt_*`) to what it measures,
//! and connecting runs no query (`max_allowed_packet` is set, the socket switch is off), so
//! the agent's own statements are the few of each collection.

use super::IntegrationError;
use super::config::{Dsn, describe};
use super::error::{Cause, Doing, explain};
use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder, Value};
use std::io::ErrorKind;
use std::time::Duration;

/// A result set as text: column names and rows of values (`None` for NULL).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<Option<String>>>,
}

impl Table {
    /// The value of `column` (any of the names given, first match) in row `row`.
    pub fn get(&self, row: usize, names: &[&str]) -> Option<&str> {
        let i = self
            .columns
            .iter()
            .position(|c| names.iter().any(|n| c.eq_ignore_ascii_case(n)))?;
        self.rows.get(row)?.get(i)?.as_deref()
    }
}

/// A server connection, opened on first use.
pub struct Client {
    instance: String,
    opts: Opts,
    /// The DSN without its password, for messages.
    pub target: String,
    /// The account, for messages and grants.
    pub user: String,
    timeout: Duration,
    conn: Option<Conn>,
    /// Connections opened so far; changes when the client reconnected.
    pub generation: u64,
}

impl Client {
    /// A client for `dsn` (validated) with per-call timeouts of `timeout`.
    pub fn new(instance: &str, dsn: &Dsn, timeout: Duration) -> Result<Client, IntegrationError> {
        let opts = dsn.parse().map_err(|why| {
            IntegrationError::new("config", format!("instance {instance}: invalid DSN: {why}"))
        })?;
        let target = describe(&opts);
        let user = opts.get_user().unwrap_or("").to_string();
        let opts = OptsBuilder::from_opts(opts)
            .prefer_socket(false)
            .max_allowed_packet(Some(16 << 20))
            .tcp_connect_timeout(Some(timeout))
            .read_timeout(Some(timeout))
            .write_timeout(Some(timeout))
            .into();
        Ok(Client {
            instance: instance.to_string(),
            opts,
            target,
            user,
            timeout,
            conn: None,
            generation: 0,
        })
    }

    /// Runs `sql` and returns its first result set as text.
    pub fn table(&mut self, sql: &str, doing: Doing<'_>) -> Result<Table, Failure> {
        self.with_conn(doing, |conn| {
            let mut result = conn.query_iter(sql)?;
            let columns = result
                .columns()
                .as_ref()
                .iter()
                .map(|c| c.name_str().into_owned())
                .collect();
            let mut rows = Vec::new();
            if let Some(set) = result.iter() {
                for row in set {
                    rows.push(row?.unwrap().iter().map(text).collect());
                }
            }
            Ok(Table { columns, rows })
        })
    }

    /// Runs a statement that returns no rows.
    pub fn execute(&mut self, sql: &str, doing: Doing<'_>) -> Result<(), Failure> {
        self.with_conn(doing, |conn| conn.query_drop(sql))
    }

    /// Runs `f` on the connection, opening it first, and drops the connection when an error
    /// may have left it unusable. A kept connection that fails that way (the server restarted,
    /// or closed it after `wait_timeout`) is reopened and `f` tried once more, so a healthy
    /// server never reads as down; every statement the integration runs may be repeated.
    fn with_conn<T>(
        &mut self,
        doing: Doing<'_>,
        mut f: impl FnMut(&mut Conn) -> Result<T, mysql::Error>,
    ) -> Result<T, Failure> {
        let mut kept = self.conn.is_some();
        loop {
            if self.conn.is_none() {
                let conn = Conn::new(self.opts.clone())
                    .map_err(|e| self.failure(Doing::Connect(&self.target), &e))?;
                self.generation += 1;
                self.conn = Some(conn);
            }
            let conn = self.conn.as_mut().expect("connected above");
            match f(conn) {
                Ok(v) => return Ok(v),
                Err(e @ mysql::Error::MySqlError(_)) => {
                    let failure = self.failure(doing, &e);
                    // Global privileges are read at login: after a refusal, the next call logs
                    // in again, so a GRANT given meanwhile takes effect without a restart.
                    if failure.error.kind == "permission" {
                        self.conn = None;
                    }
                    return Err(failure);
                }
                Err(e) => {
                    self.conn = None;
                    // A timeout is not retried: it would only double the wait.
                    let timed_out = matches!(
                        Cause::of(&e),
                        Cause::Io(ErrorKind::TimedOut | ErrorKind::WouldBlock, _)
                    );
                    if !kept || timed_out {
                        return Err(self.failure(doing, &e));
                    }
                    kept = false;
                }
            }
        }
    }

    fn failure(&self, doing: Doing<'_>, e: &mysql::Error) -> Failure {
        let cause = Cause::of(e);
        let code = match &cause {
            Cause::Server(code, _) => Some(*code),
            _ => None,
        };
        Failure {
            code,
            error: explain(&self.instance, &self.user, doing, cause, self.timeout),
        }
    }
}

/// A failed call: the server's error number, if it answered, and the explained error.
#[derive(Debug)]
pub struct Failure {
    /// The server's error number (`1146` no such table), `None` for client-side failures.
    pub code: Option<u16>,
    /// What to log and count.
    pub error: IntegrationError,
}

impl From<Failure> for IntegrationError {
    fn from(f: Failure) -> Self {
        f.error
    }
}

/// A value as text, as the text protocol sends it; `None` for NULL.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Double(d) => Some(d.to_string()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}
