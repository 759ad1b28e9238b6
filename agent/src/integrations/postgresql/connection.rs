//! The connection to one server: opened on demand with the agent's session settings, dropped
//! after an error so the next run reconnects, and a [`Session`] that runs one source's query
//! and keeps the run's first error.

use super::error::{self, Doing};
use super::{IntegrationError, Sources};
use crate::integrations::db;
use postgres::types::ToSql;
use std::time::Duration;

/// A server connection that is opened on demand and dropped after an error.
pub struct Connection {
    pg: postgres::Config,
    tls: db::tls::Settings,
    /// Where it points, for messages (no password).
    target: String,
    pub client: Option<postgres::Client>,
}

impl Connection {
    /// A connection with the session settings of the agent: `application_name`, connect
    /// timeout half the run's timeout, `statement_timeout` 80% of it.
    pub fn new(dsn: db::pg::Dsn, timeout: Duration) -> Connection {
        let db::pg::Dsn {
            config: mut pg,
            tls,
        } = dsn;
        let statement_timeout = timeout.mul_f64(0.8).as_millis().max(1);
        let options = match pg.get_options() {
            Some(o) if !o.trim().is_empty() => {
                format!("{o} -c statement_timeout={statement_timeout}")
            }
            _ => format!("-c statement_timeout={statement_timeout}"),
        };
        pg.options(&options);
        pg.connect_timeout(timeout / 2);
        if pg.get_application_name().is_none() {
            pg.application_name("dozor-agent");
        }
        Connection {
            target: db::pg::describe(&pg, &tls),
            pg,
            tls,
            client: None,
        }
    }

    /// The open client; connects first when there is none. `Ok(true)` when newly connected.
    pub fn open(
        &mut self,
        instance: &str,
        role: &str,
    ) -> Result<(&mut postgres::Client, bool), IntegrationError> {
        if self.client.as_ref().is_some_and(|c| c.is_closed()) {
            self.client = None;
        }
        let fresh = self.client.is_none();
        if fresh {
            let client =
                db::pg::connect(&self.pg, &self.tls).map_err(|e| {
                    match db::pg::tls_problem(&e, &self.tls) {
                        Some(why) => error::tls(instance, &self.target, &why),
                        None => error::classify(instance, role, Doing::Connect(&self.target), &e),
                    }
                })?;
            self.client = Some(client);
        }
        Ok((self.client.as_mut().expect("connected above"), fresh))
    }

    /// Drops a client whose connection broke, so the next run reconnects.
    pub fn check(&mut self) {
        if self.client.as_ref().is_some_and(|c| c.is_closed()) {
            self.client = None;
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            db::pg::close(client);
        }
    }
}

/// One run's queries on an open client.
pub struct Session<'a> {
    pub client: &'a mut postgres::Client,
    pub instance: &'a str,
    pub role: &'a str,
    pub sources: &'a mut Sources,
}

impl Session<'_> {
    /// Runs `source`'s `sql` and reads each row with `parse`; `None` after noting the error.
    pub fn rows<T>(
        &mut self,
        source: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        parse: fn(&postgres::Row) -> Result<T, postgres::Error>,
    ) -> Option<Vec<T>> {
        let fail = |e: postgres::Error| {
            error::classify(self.instance, self.role, Doing::Query(source), &e)
        };
        let result: Result<Vec<T>, IntegrationError> = self
            .client
            .query(sql, params)
            .map_err(fail)
            .and_then(|rows| {
                rows.iter()
                    .map(parse)
                    .collect::<Result<_, _>>()
                    .map_err(fail)
            });
        self.sources.keep(source, result)
    }
}
