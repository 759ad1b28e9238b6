//! One connection to one server, kept across runs and reopened after an error, with connect,
//! read and write timeouts of a quarter of the integration's timeout each. Queries use the text
//! protocol only, so the agent adds no prepared statements (`Com_stmt_*`) to what it measures,
//! and connecting runs no query (`max_allowed_packet` is set, the socket switch is off), so
//! the agent's own statements are the few of each collection.

use super::IntegrationError;
use super::error::{Cause, Doing, explain};
use crate::integrations::db::{self, Dsn};
use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder};
use std::io::ErrorKind;
use std::time::Duration;

pub use db::Table;

/// A server connection, opened on first use.
pub struct Client {
    instance: String,
    connector: db::my::Connector,
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
        let dsn = dsn.mysql().map_err(|why| {
            IntegrationError::new("config", format!("instance {instance}: invalid DSN: {why}"))
        })?;
        let target = db::my::describe(&dsn.opts, &dsn.tls);
        let user = dsn.opts.get_user().unwrap_or("").to_string();
        let opts = OptsBuilder::from_opts(dsn.opts)
            .prefer_socket(false)
            .max_allowed_packet(Some(16 << 20))
            .tcp_connect_timeout(Some(timeout))
            .read_timeout(Some(timeout))
            .write_timeout(Some(timeout));
        Ok(Client {
            instance: instance.to_string(),
            connector: db::my::Connector::new(opts, &dsn.tls),
            target,
            user,
            timeout,
            conn: None,
            generation: 0,
        })
    }

    /// Runs `sql` and returns its first result set as text.
    pub fn table(&mut self, sql: &str, doing: Doing<'_>) -> Result<Table, Failure> {
        self.with_conn(doing, |conn| db::my::table(conn, sql))
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
                let conn =
                    self.connector
                        .connect()
                        .map_err(|e| match self.connector.tls_problem(&e) {
                            Some(why) => Failure {
                                code: None,
                                error: super::error::tls(&self.instance, &self.target, &why),
                            },
                            None => self.failure(Doing::Connect(&self.target), &e),
                        })?;
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
