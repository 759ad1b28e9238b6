//! The `sql` integration: business metrics from the user's own read-only queries against any
//! PostgreSQL, MySQL or MariaDB server (orders per status, age of the oldest unpicked order).
//!
//! One integration runs per query (`sql/<name>`), on its own connection and schedule, so a
//! failing or slow query never holds up the others. Each row of the result gives one value per
//! configured metric, labelled with the row's label columns. These metrics are the one kind
//! dozor does not declare in the catalogue: their names come from the configuration. The
//! catalogue reserves their namespace (`sql_`, [`dozor_metrics::catalogue::sql::USER_PREFIX`]),
//! `validate` checks every name, type and label at load, and the agent declares each once at
//! start-up as a [`DynamicMetric`], recorded with `Recorder::record_dynamic`. The integration's
//! own metrics (`dozor.sql.*`) are ordinary catalogue entries.
//!
//! `min_interval` protects the server from frequent runs: within it of the last execution a run
//! re-emits the last result (or returns the last error) without querying, counted in
//! `dozor.sql.cache.hits`. `max_series` bounds the series a query can create; values beyond it
//! are dropped and counted, never silently.

mod client;
pub mod config;
mod error;
mod rows;

#[cfg(test)]
mod tests;

pub use config::{Config, QueryConfig};

use super::{Integration, IntegrationError};
use client::Client;
use dozor_metrics::catalogue::sql as m;
use dozor_metrics::sample::{DynamicMetric, Recorder};
use rows::Extracted;
use std::time::{Duration, Instant};

/// What the last execution gave, re-emitted until `min_interval` has passed.
enum Last {
    Values(Extracted),
    Failed(IntegrationError),
}

/// The integration for one query.
pub struct Sql {
    /// `sql/<query>`: each query gets its own `dozor.agent.scrape.*` series.
    name: String,
    query: String,
    sql: String,
    metrics: Vec<DynamicMetric>,
    config: Vec<config::MetricConfig>,
    max_series: usize,
    min_interval: Duration,
    client: Client,
    last: Option<(Instant, Last)>,
    duration: Option<f64>,
    executions: u64,
    errors: std::collections::BTreeMap<&'static str, u64>,
    cache_hits: u64,
    dropped: rows::Dropped,
}

impl Sql {
    /// The integration for `q`, whose metrics were declared as `metrics`; runs may take
    /// `timeout`. Fails only on a DSN `validate` would have refused.
    pub fn new(
        q: &QueryConfig,
        metrics: Vec<DynamicMetric>,
        timeout: Duration,
    ) -> Result<Sql, IntegrationError> {
        let target = q.dsn.target().map_err(|why| {
            IntegrationError::new("config", format!("query {}: invalid DSN: {why}", q.name))
        })?;
        Ok(Sql {
            name: format!("sql/{}", q.name),
            query: q.name.clone(),
            sql: q.sql.clone(),
            metrics,
            config: q.metrics.clone(),
            max_series: q.max_series,
            min_interval: q.min_interval.0,
            client: Client::new(&q.name, target, q.dsn.redacted(), timeout),
            last: None,
            duration: None,
            executions: 0,
            errors: Default::default(),
            cache_hits: 0,
            dropped: rows::Dropped::default(),
        })
    }

    /// Sends the query and turns its rows into values.
    fn execute(&mut self) -> Result<Extracted, IntegrationError> {
        let started = Instant::now();
        let table = self.client.table(&self.sql);
        self.duration = Some(started.elapsed().as_secs_f64());
        rows::extract(&table?, &self.config, self.max_series)
            .map_err(|mismatch| error::mismatch(&self.query, mismatch))
    }

    fn record_self(&self, rec: &mut Recorder, age: f64) {
        let q = self.query.as_str();
        if let Some(d) = self.duration {
            rec.record(&m::QUERY_DURATION, d, &[q]);
        }
        rec.record(&m::QUERY_EXECUTIONS, self.executions as f64, &[q]);
        for (kind, n) in &self.errors {
            rec.record(&m::QUERY_ERRORS, *n as f64, &[q, kind]);
        }
        rec.record(&m::CACHE_HITS, self.cache_hits as f64, &[q]);
        rec.record(&m::RESULT_AGE, age, &[q]);
        let d = self.dropped;
        for (reason, n) in [
            ("max_series", d.max_series),
            ("duplicate", d.duplicate),
            ("null", d.null),
        ] {
            rec.record(&m::POINTS_DROPPED, n as f64, &[q, reason]);
        }
    }
}

impl Integration for Sql {
    fn name(&self) -> &str {
        &self.name
    }

    fn collect(&mut self, rec: &mut Recorder) -> Result<(), IntegrationError> {
        let cached = self
            .last
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < self.min_interval);
        if cached {
            self.cache_hits += 1;
        } else {
            let at = Instant::now();
            self.executions += 1;
            let last = match self.execute() {
                Ok(values) => {
                    let d = values.dropped;
                    self.dropped.max_series += d.max_series;
                    self.dropped.duplicate += d.duplicate;
                    self.dropped.null += d.null;
                    Last::Values(values)
                }
                Err(e) => {
                    *self.errors.entry(e.kind).or_default() += 1;
                    Last::Failed(e)
                }
            };
            self.last = Some((at, last));
        }
        let (at, last) = self.last.as_ref().expect("set above");
        let age = if cached {
            at.elapsed().as_secs_f64()
        } else {
            0.0
        };
        self.record_self(rec, age);
        match last {
            Last::Values(values) => {
                for v in &values.values {
                    let labels: Vec<&str> = v.labels.iter().map(String::as_str).collect();
                    rec.record_dynamic(self.metrics[v.metric], v.value, &labels);
                }
                Ok(())
            }
            Last::Failed(e) if cached => Err(IntegrationError::new(
                e.kind,
                format!(
                    "{} (last execution; the next after min_interval)",
                    e.message
                ),
            )),
            Last::Failed(e) => Err(IntegrationError::new(e.kind, e.message.clone())),
        }
    }
}
