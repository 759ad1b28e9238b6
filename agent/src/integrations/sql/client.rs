//! The connection of one query: PostgreSQL or MySQL/MariaDB, opened on demand in a read-only
//! session with a statement timeout, dropped after an error so the next run reconnects.
//!
//! Both servers are asked over their text protocols (`simple_query`, `query_iter`), so any
//! column type arrives as text and no statement is prepared. Read-only twice over: it is the
//! session's default (PostgreSQL `default_transaction_read_only=on`, a startup option; MySQL
//! `SET SESSION TRANSACTION READ ONLY`), and every execution runs in a transaction started
//! `READ ONLY` and rolled back, so with the single-statement rule of the config a query cannot
//! make its own run writable. A role that may only `SELECT` is still the first safeguard.

use super::config::Target;
use super::error::{Cause, explain};
use super::rows::Table;
use crate::integrations::{IntegrationError, db};
use mysql::prelude::Queryable;
use std::time::Duration;

enum Conn {
    Postgres(Box<postgres::Client>),
    Mysql(Box<mysql::Conn>),
}

/// A query's connection.
pub struct Client {
    query: String,
    target: Target,
    /// Where it points, for messages (no password).
    shown: String,
    user: String,
    timeout: Duration,
    /// The server's statement timeout: 80% of `timeout`.
    statement_timeout: Duration,
    /// For a MySQL target: it remembers a server that offers no TLS.
    mysql: Option<db::my::Connector>,
    conn: Option<Conn>,
}

impl Client {
    /// A client for query `query` on `target`, whose runs may take `timeout`.
    pub fn new(query: &str, target: Target, shown: String, timeout: Duration) -> Client {
        let user = match &target {
            Target::Postgres(d) => d
                .config
                .get_user()
                .unwrap_or("(the agent's OS user)")
                .to_string(),
            Target::Mysql(d) => d.opts.get_user().unwrap_or("").to_string(),
        };
        let mysql = match &target {
            Target::Mysql(d) => Some(db::my::Connector::new(
                mysql::OptsBuilder::from_opts(d.opts.clone())
                    .prefer_socket(false)
                    .tcp_connect_timeout(Some(timeout / 2))
                    .read_timeout(Some(timeout))
                    .write_timeout(Some(timeout)),
                &d.tls,
            )),
            Target::Postgres(_) => None,
        };
        Client {
            query: query.to_string(),
            target,
            shown,
            user,
            timeout,
            statement_timeout: timeout.mul_f64(0.8).max(Duration::from_millis(1)),
            mysql,
            conn: None,
        }
    }

    /// Runs `sql` and returns its result as text; drops the connection after a failure that
    /// may have broken it. A kept connection that turns out broken (the server restarted, or
    /// closed it while idle) is reopened and the query tried once more, so a healthy server
    /// never reads as failing.
    pub fn table(&mut self, sql: &str) -> Result<Table, IntegrationError> {
        let kept = self.conn.is_some();
        let result = match self.attempt(sql) {
            Err((false, cause, true)) if kept && !matches!(cause, Cause::Network(true, _)) => {
                self.attempt(sql)
            }
            other => other,
        };
        result.map_err(|(connecting, cause, _)| {
            explain(
                &self.query,
                &self.user,
                &self.shown,
                connecting,
                cause,
                self.statement_timeout,
            )
        })
    }

    /// One try; the error says whether it happened while connecting, and whether the
    /// connection broke (and was dropped).
    fn attempt(&mut self, sql: &str) -> Result<Table, (bool, Cause, bool)> {
        if self.conn.is_none() {
            self.conn = Some(self.connect().map_err(|c| (true, c, true))?);
        }
        let result = match self.conn.as_mut().expect("connected above") {
            Conn::Postgres(c) => pg_table(c, sql).map_err(|e| Cause::postgres(&e)),
            Conn::Mysql(c) => mysql_table(c, sql).map_err(|e| Cause::mysql(&e)),
        };
        result.map_err(|cause| {
            // Regression: a terminated backend's FATAL (57P01) once left the connection kept.
            let broken = cause.ends_connection()
                || matches!(&self.conn, Some(Conn::Postgres(c)) if c.is_closed());
            if broken {
                self.drop_conn();
            }
            (false, cause, broken)
        })
    }

    fn connect(&mut self) -> Result<Conn, Cause> {
        match &self.target {
            Target::Postgres(dsn) => {
                let mut pg = dsn.config.clone();
                let ms = self.statement_timeout.as_millis();
                let ours = format!("-c default_transaction_read_only=on -c statement_timeout={ms}");
                let options = match pg.get_options() {
                    Some(o) if !o.trim().is_empty() => format!("{o} {ours}"),
                    _ => ours,
                };
                pg.options(&options);
                pg.connect_timeout(self.timeout / 2);
                if pg.get_application_name().is_none() {
                    pg.application_name("dozor-agent sql");
                }
                let client = db::pg::connect(&pg, &dsn.tls).map_err(|e| {
                    db::pg::tls_problem(&e, &dsn.tls)
                        .map_or_else(|| Cause::postgres(&e), Cause::Tls)
                })?;
                Ok(Conn::Postgres(Box::new(client)))
            }
            Target::Mysql(_) => {
                let connector = self.mysql.as_mut().expect("made with the MySQL target");
                let mut conn = connector.connect().map_err(|e| {
                    connector
                        .tls_problem(&e)
                        .map_or_else(|| Cause::mysql(&e), Cause::Tls)
                })?;
                conn.query_drop("SET SESSION TRANSACTION READ ONLY")
                    .map_err(|e| Cause::mysql(&e))?;
                // MariaDB counts seconds, MySQL milliseconds (and only for SELECT).
                let secs = self.statement_timeout.as_secs_f64();
                let ms = self.statement_timeout.as_millis();
                if conn
                    .query_drop(format!("SET SESSION max_statement_time = {secs:.3}"))
                    .is_err()
                {
                    conn.query_drop(format!("SET SESSION max_execution_time = {ms}"))
                        .map_err(|e| Cause::mysql(&e))?;
                }
                Ok(Conn::Mysql(Box::new(conn)))
            }
        }
    }

    /// Closes the connection; the next run reconnects.
    fn drop_conn(&mut self) {
        if let Some(Conn::Postgres(client)) = self.conn.take() {
            db::pg::close(*client);
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.drop_conn();
    }
}

/// Runs `sql` in a transaction of its own that is read-only from its start: even a statement
/// that changed the session's default (`set_config(...)`) cannot make its own run writable.
fn pg_table(client: &mut postgres::Client, sql: &str) -> Result<Table, postgres::Error> {
    let mut tx = client.build_transaction().read_only(true).start()?;
    let messages = tx.simple_query(sql)?;
    tx.rollback()?;
    let mut table = Table::default();
    for message in messages {
        match message {
            postgres::SimpleQueryMessage::RowDescription(columns) if table.columns.is_empty() => {
                table.columns = columns.iter().map(|c| c.name().to_string()).collect();
            }
            postgres::SimpleQueryMessage::Row(row) => {
                if table.columns.is_empty() {
                    table.columns = row.columns().iter().map(|c| c.name().to_string()).collect();
                }
                table.rows.push(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                );
            }
            _ => {}
        }
    }
    Ok(table)
}

/// Runs `sql` in a read-only transaction, as [`pg_table`] does.
fn mysql_table(conn: &mut mysql::Conn, sql: &str) -> Result<Table, mysql::Error> {
    conn.query_drop("START TRANSACTION READ ONLY")?;
    let table = db::my::table(conn, sql);
    let rolled_back = conn.query_drop("ROLLBACK");
    let table = table?;
    rolled_back?;
    Ok(table)
}
