//! The `mysql` integration: statements, threads, connections, the InnoDB buffer pool and
//! replication of MySQL and MariaDB servers, each configured instance on its own connection and
//! schedule, so a server that is down or refuses the agent never holds up the others.
//!
//! Every run is a handful of statements on one kept connection: `SHOW GLOBAL STATUS` filtered
//! on the server to the variables used ([`global_status`]), `SHOW REPLICA STATUS`
//! ([`replica_status`]), `SHOW GLOBAL VARIABLES LIKE 'max_connections'` on reconnect and every
//! five minutes, and with the heartbeat enabled a read on the replica and a `SELECT` and an
//! upsert on the primary ([`heartbeat`]).
//! `dozor.mysql.up` is 1 when the status was read and 0 when the server could not be reached
//! or refused the agent; errors name the instance and the fix ([`error`]). Each statement is a
//! source of `dozor.agent.scrape.source.success` (`global_status`, `variables`,
//! `replica_status`, `heartbeat`); a failing one does not stop the others.

mod client;
pub mod config;
mod error;
mod global_status;
mod heartbeat;
mod replica_status;

#[cfg(test)]
mod tests;

pub use config::Config;

use super::{Integration, IntegrationError, Sources};
use client::{Client, Failure};
use config::InstanceConfig;
use dozor_metrics::catalogue::mysql as m;
use dozor_metrics::sample::Recorder;
use error::Doing;
use heartbeat::Heartbeat;
use std::time::{Duration, Instant};

/// How long `max_connections` is trusted before it is read again.
const VARIABLES_TTL: Duration = Duration::from_secs(300);

/// One MySQL or MariaDB server.
pub struct Mysql {
    /// `mysql/<instance>`: the `integration` label of the agent's scrape metrics.
    name: String,
    instance: String,
    client: Client,
    commands: Vec<String>,
    status_query: String,
    replica_query: &'static str,
    /// `max_connections`, the connection generation it was read on, and when.
    max_connections: Option<(f64, u64, Instant)>,
    heartbeat: Option<Heartbeat>,
}

impl Mysql {
    /// The integration for `config`; each call may take a quarter of `timeout`.
    pub fn new(config: &InstanceConfig, timeout: Duration) -> Result<Mysql, IntegrationError> {
        let call_timeout = timeout / 4;
        let client = Client::new(&config.name, &config.dsn, call_timeout)?;
        let database = config
            .dsn
            .mysql()
            .ok()
            .and_then(|d| d.opts.get_db_name().map(str::to_string));
        let heartbeat = Heartbeat::new(
            &config.name,
            &config.heartbeat,
            database.as_deref(),
            call_timeout,
        )?;
        let commands = config::commands(&config.commands);
        Ok(Mysql {
            name: format!("mysql/{}", config.name),
            instance: config.name.clone(),
            client,
            status_query: global_status::query(&commands),
            commands,
            replica_query: replica_status::QUERY,
            max_connections: None,
            heartbeat,
        })
    }

    /// Keeps the heartbeats waiting to be applied in `state_dir` (read now; written back only
    /// when `save`), so that the replica's delay goes on across restarts.
    pub fn keep_state(mut self, state_dir: &std::path::Path, save: bool) -> Mysql {
        if let Some(hb) = &mut self.heartbeat {
            hb.keep_state(state_dir, &self.instance, save);
        }
        self
    }

    /// `max_connections`, read again after a reconnect or when older than [`VARIABLES_TTL`].
    fn max_connections(&mut self) -> Result<f64, IntegrationError> {
        if let Some((value, generation, at)) = self.max_connections
            && generation == self.client.generation
            && at.elapsed() < VARIABLES_TTL
        {
            return Ok(value);
        }
        let doing = Doing::Query {
            source: "SHOW GLOBAL VARIABLES",
            grant: "no privilege is needed; check the account",
        };
        let table = self
            .client
            .table("SHOW GLOBAL VARIABLES LIKE 'max_connections'", doing)?;
        let value = table
            .get(0, &["Value"])
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| {
                IntegrationError::new(
                    "parse",
                    format!(
                        "instance {}: max_connections is missing or not a number",
                        self.instance
                    ),
                )
            })?;
        self.max_connections = Some((value, self.client.generation, Instant::now()));
        Ok(value)
    }

    /// The replica state; `None` when the server is not a replica.
    fn replica_status(
        &mut self,
    ) -> Result<Option<replica_status::ReplicaStatus>, IntegrationError> {
        loop {
            let doing = Doing::Query {
                source: self.replica_query,
                grant: replica_status::GRANT,
            };
            match self.client.table(self.replica_query, doing) {
                Ok(table) => return Ok(replica_status::parse(&table)),
                // ER_PARSE_ERROR: a server older than SHOW REPLICA STATUS.
                Err(Failure {
                    code: Some(1064), ..
                }) if self.replica_query == replica_status::QUERY => {
                    self.replica_query = replica_status::FALLBACK;
                }
                Err(f) => return Err(f.error),
            }
        }
    }
}

impl Integration for Mysql {
    fn name(&self) -> &str {
        &self.name
    }

    fn collect(&mut self, recorder: &mut Recorder) -> Result<(), IntegrationError> {
        let instance = self.instance.clone();
        let doing = Doing::Query {
            source: "SHOW GLOBAL STATUS",
            grant: "no privilege is needed; check the account",
        };
        let status = match self.client.table(&self.status_query, doing) {
            Ok(table) => table,
            Err(f) => {
                recorder.record(&m::UP, 0.0, &[&instance]);
                return Err(f.error);
            }
        };
        recorder.record(&m::UP, 1.0, &[&instance]);
        let mut sources = Sources::new(&self.name);
        let (points, bad) = global_status::parse(&status, &self.commands);
        global_status::record(recorder, &instance, &points);
        let bad = match bad.is_empty() {
            true => Ok(()),
            false => Err(IntegrationError::new(
                "parse",
                format!(
                    "instance {instance}: SHOW GLOBAL STATUS values that are not numbers: {}",
                    bad.join(", ")
                ),
            )),
        };
        sources.note("global_status", bad);
        if let Some(v) = sources.keep("variables", self.max_connections()) {
            recorder.record(&m::CONNECTION_MAX, v, &[&instance]);
        }
        let replica = sources
            .keep("replica_status", self.replica_status())
            .map(|status| {
                if let Some(s) = &status {
                    replica_status::record(recorder, &instance, s);
                }
                status.is_some()
            });
        if let Some(hb) = &mut self.heartbeat {
            let (delay, result) = hb.run(&mut self.client, replica);
            if let Some(delay) = delay {
                recorder.record(&m::HEARTBEAT_DELAY, delay.as_secs_f64(), &[&instance]);
            }
            sources.note("heartbeat", result);
        }
        sources.finish(recorder)
    }
}
