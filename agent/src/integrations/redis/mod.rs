//! The `redis` integration: lengths of the lists and streams used as queues, the pending
//! entries, lag and consumers of stream consumer groups, and memory and clients, for each
//! configured Redis server on its own kept connection.
//!
//! A run is `INFO clients memory` ([`info`]), one pipeline of `LLEN` for the lists, one of
//! `XLEN` + `XINFO GROUPS` for the streams and one of `XINFO CONSUMERS` for their groups
//! ([`streams`]); glob patterns are resolved with a bounded `SCAN ... TYPE` first. Where Redis
//! reports no lag for a group, the agent counts it ([`streams`]). `dozor.redis.up` is 1 when
//! `INFO` was read; errors name the instance and the fix ([`error`]). The lists and the streams
//! are two sources of `dozor.agent.scrape.source.success` (`lists`, `streams`).

pub mod config;
mod error;
mod info;
mod streams;
mod value;

#[cfg(test)]
mod tests;

pub use config::Config;

use super::budget::{self, OTHER};
use super::filter::Filter;
use super::{Integration, IntegrationError, Sources};
use config::InstanceConfig;
use dozor_metrics::catalogue::{Metric, redis as m};
use dozor_metrics::sample::Recorder;
use redis::Value;
use std::time::Duration;

/// Entries fetched per `XRANGE` call when counting a lag.
const RANGE_PAGE: usize = 1000;
/// `COUNT` hint of each `SCAN` call.
const SCAN_COUNT: usize = 1000;

/// One Redis server.
pub struct Redis {
    /// `redis/<instance>`: the `integration` label of the agent's scrape metrics.
    name: String,
    instance: String,
    target: String,
    client: redis::Client,
    con: Option<redis::Connection>,
    call_timeout: Duration,
    lists: Vec<String>,
    streams: Vec<String>,
    filter: Filter,
    scan_limit: usize,
    max_series: usize,
    lag_count_limit: usize,
    /// Keys and consumers folded into `_other` in this run.
    overflow_keys: usize,
    overflow_consumers: usize,
}

impl Redis {
    /// The integration for `config`; connecting and each call may take a quarter of `timeout`.
    pub fn new(config: &InstanceConfig, timeout: Duration) -> Result<Redis, IntegrationError> {
        let bad =
            |m: String| IntegrationError::new("config", format!("instance {}: {m}", config.name));
        let (host, port) = config::split_address(&config.address).map_err(bad)?;
        let host_part = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let mut url = url::Url::parse(&format!("redis://{host_part}:{port}/{}", config.db))
            .map_err(|e| bad(format!("address: {e}")))?;
        if let Some(u) = &config.username {
            let _ = url.set_username(u);
        }
        if let Some(p) = &config.password {
            let _ = url.set_password(Some(p));
        }
        let client = redis::Client::open(url.as_str())
            .map_err(|e| bad(format!("address {host_part}:{port}: {e}")))?;
        Ok(Redis {
            name: format!("redis/{}", config.name),
            instance: config.name.clone(),
            target: format!("{host_part}:{port}"),
            client,
            con: None,
            call_timeout: timeout / 4,
            lists: config.lists.clone(),
            streams: config.streams.clone(),
            filter: Filter::new(&config.include, &config.exclude),
            scan_limit: config.scan_limit(),
            max_series: config.max_series(),
            lag_count_limit: config.lag_count_limit(),
            overflow_keys: 0,
            overflow_consumers: 0,
        })
    }

    fn explain(&self, doing: &str, e: &redis::RedisError) -> IntegrationError {
        error::explain(&self.instance, &self.target, doing, e, self.call_timeout)
    }

    /// The first `NOPERM` among a pipeline's replies, as a `permission` error: an ACL user that
    /// may not run the command is told which grant it lacks, not that the keys are wrong.
    fn denied(&self, doing: &str, replies: &[Value]) -> Result<(), IntegrationError> {
        match replies.iter().find_map(|v| match v {
            Value::ServerError(e) if e.code() == "NOPERM" => Some(e),
            _ => None,
        }) {
            None => Ok(()),
            Some(e) => Err(error::classify(
                &self.instance,
                &self.target,
                doing,
                error::Class::NoPerm,
                e.code(),
                e.details().unwrap_or(""),
                self.call_timeout,
            )),
        }
    }

    /// Runs `cmd` (or a pipeline) on the kept connection, opened first when there is none; a
    /// connection that failed is dropped, so the next call reconnects.
    /// One command per item in one pipeline, each reply kept (an error reply is a value, not
    /// the pipeline's failure); a `NOPERM` among them is the permission error naming `doing`.
    fn pipeline<T>(
        &mut self,
        doing: &str,
        items: &[T],
        cmd: impl Fn(&T) -> redis::Cmd,
    ) -> Result<Vec<Value>, IntegrationError> {
        let replies: Vec<Value> = self.query(doing, |c| {
            let mut p = redis::pipe();
            p.ignore_errors();
            for item in items {
                p.add_command(cmd(item));
            }
            p.query(c)
        })?;
        self.denied(doing, &replies)?;
        Ok(replies)
    }

    fn query<T: redis::FromRedisValue>(
        &mut self,
        doing: &str,
        run: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, IntegrationError> {
        if self.con.is_none() {
            let con = self
                .client
                .get_connection_with_timeout(self.call_timeout)
                .and_then(|c| {
                    c.set_read_timeout(Some(self.call_timeout))?;
                    c.set_write_timeout(Some(self.call_timeout))?;
                    Ok(c)
                })
                .map_err(|e| self.explain("connecting", &e))?;
            self.con = Some(con);
        }
        let con = self.con.as_mut().expect("connected above");
        match run(con) {
            Ok(v) => Ok(v),
            Err(e) => {
                if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
                    self.con = None;
                }
                Err(self.explain(doing, &e))
            }
        }
    }

    /// The configured keys of type `kind`: names as they are, patterns resolved with `SCAN`
    /// and filtered by include / exclude; sorted, each once.
    fn resolve(&mut self, keys: &[String], kind: &str) -> Result<Vec<String>, IntegrationError> {
        let mut out = Vec::new();
        for key in keys {
            if !config::is_pattern(key) {
                out.push(key.clone());
                continue;
            }
            let mut cursor = 0u64;
            let mut examined = 0usize;
            loop {
                let doing = format!("SCAN MATCH {key}");
                let (next, found): (u64, Vec<String>) = self.query(&doing, |c| {
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(key)
                        .arg("COUNT")
                        .arg(SCAN_COUNT)
                        .arg("TYPE")
                        .arg(kind)
                        .query(c)
                })?;
                out.extend(found.into_iter().filter(|k| self.wanted(k)));
                examined += SCAN_COUNT;
                cursor = next;
                if cursor == 0 || examined >= self.scan_limit {
                    break;
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn wanted(&self, key: &str) -> bool {
        self.filter.wants(key)
    }

    /// The length of every configured key of one kind (`LLEN` or `XLEN`, in one pipeline),
    /// recorded as `metric` within the series budget. Returns the kept keys with their lengths,
    /// and the error naming the keys whose length could not be read (another type), if any.
    fn lengths(
        &mut self,
        rec: &mut Recorder,
        patterns: &[String],
        kind: &str,
        cmd: &'static str,
        metric: &'static Metric<2>,
    ) -> Result<(budget::Named<f64>, Option<IntegrationError>), IntegrationError> {
        if patterns.is_empty() {
            return Ok((Vec::new(), None));
        }
        let keys = self.resolve(patterns, kind)?;
        if keys.is_empty() {
            // Only patterns, matching nothing now: an empty pipeline is an error in the client.
            return Ok((Vec::new(), None));
        }
        let replies = self.pipeline(cmd, &keys, |k| {
            let mut c = redis::cmd(cmd);
            c.arg(k);
            c
        })?;
        let mut lengths = Vec::new();
        let mut bad = Vec::new();
        for (k, v) in keys.into_iter().zip(&replies) {
            match value::number(v) {
                Some(n) => lengths.push((k, n)),
                None => bad.push(k),
            }
        }
        let (kept, rest) = budget::split(lengths, self.max_series);
        let instance = &self.instance;
        for (k, n) in &kept {
            rec.record(metric, *n, &[instance, k]);
        }
        if !rest.is_empty() {
            let sum = rest.iter().map(|(_, n)| n).sum();
            rec.record(metric, sum, &[instance, OTHER]);
        }
        self.overflow_keys += rest.len();
        let bad = (!bad.is_empty()).then(|| {
            IntegrationError::new(
                "query",
                format!(
                    "instance {instance}: {cmd} failed for {} (not {kind}s?): fix integrations.redis {kind}s",
                    bad.join(", ")
                ),
            )
        });
        Ok((kept, bad))
    }

    fn collect_lists(&mut self, rec: &mut Recorder) -> Result<(), IntegrationError> {
        let lists = self.lists.clone();
        let (_, bad) = self.lengths(rec, &lists, "list", "LLEN", &m::LIST_LENGTH)?;
        bad.map_or(Ok(()), Err)
    }

    fn collect_streams(&mut self, rec: &mut Recorder) -> Result<(), IntegrationError> {
        let streams = self.streams.clone();
        let (kept, bad) = self.lengths(rec, &streams, "stream", "XLEN", &m::STREAM_LENGTH)?;
        let instance = self.instance.clone();
        // A named stream that does not exist answers "no such key": no groups.
        if kept.is_empty() {
            return bad.map_or(Ok(()), Err);
        }
        let replies = self.pipeline("XINFO GROUPS", &kept, |(k, _)| {
            let mut c = redis::cmd("XINFO");
            c.arg("GROUPS").arg(k);
            c
        })?;
        let groups: Vec<(String, f64, streams::Group)> = kept
            .iter()
            .zip(&replies)
            .flat_map(|((k, len), v)| {
                streams::parse_groups(v)
                    .into_iter()
                    .map(move |g| (k.clone(), *len, g))
            })
            .collect();
        for (k, len, g) in &groups {
            let labels = [instance.as_str(), k, &g.name];
            rec.record(&m::STREAM_GROUP_PENDING, g.pending, &labels);
            let (lag, counted) = match g.lag {
                Some(lag) => (lag, 0.0),
                None if g.last_delivered_id == "0-0" => (*len, 1.0),
                None => (self.count_lag(k, &g.last_delivered_id, *len)?, 1.0),
            };
            rec.record(&m::STREAM_GROUP_LAG, lag, &labels);
            rec.record(&m::STREAM_GROUP_LAG_COUNTED, counted, &labels);
        }
        self.collect_lag_seconds(rec, &groups)?;
        self.collect_consumers(rec, &groups)?;
        bad.map_or(Ok(()), Err)
    }

    /// The age of each group's oldest undelivered entry, from the time in its id: one
    /// `XRANGE key (last-delivered-id + COUNT 1` per group, in one pipeline; 0 when there is
    /// none.
    fn collect_lag_seconds(
        &mut self,
        rec: &mut Recorder,
        groups: &[(String, f64, streams::Group)],
    ) -> Result<(), IntegrationError> {
        if groups.is_empty() {
            return Ok(());
        }
        let replies = self.pipeline("XRANGE", groups, |(k, _, g)| {
            let mut c = redis::cmd("XRANGE");
            c.arg(k)
                .arg(format!("({}", g.last_delivered_id))
                .arg("+")
                .arg("COUNT")
                .arg(1);
            c
        })?;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        for ((k, _, g), v) in groups.iter().zip(&replies) {
            let age = match streams::range_page(v).1 {
                Some(id) => streams::age_seconds(&id, now_ms),
                None => Some(0.0),
            };
            if let Some(age) = age {
                rec.record(&m::STREAM_GROUP_LAG_AGE, age, &[&self.instance, k, &g.name]);
            }
        }
        Ok(())
    }

    fn collect_consumers(
        &mut self,
        rec: &mut Recorder,
        groups: &[(String, f64, streams::Group)],
    ) -> Result<(), IntegrationError> {
        if groups.is_empty() {
            return Ok(());
        }
        let replies = self.pipeline("XINFO CONSUMERS", groups, |(k, _, g)| {
            let mut c = redis::cmd("XINFO");
            c.arg("CONSUMERS").arg(k).arg(&g.name);
            c
        })?;
        let mut all = Vec::new();
        for ((k, _, g), v) in groups.iter().zip(&replies) {
            for c in streams::parse_consumers(v) {
                // Sorted by stream, group, then consumer name.
                all.push((format!("{k}\0{}\0{}", g.name, c.name), (k, &g.name, c)));
            }
        }
        let (kept, rest) = budget::split(all, self.max_series);
        let instance = self.instance.as_str();
        for (_, (k, g, c)) in &kept {
            let labels = [instance, k.as_str(), g.as_str(), &c.name];
            rec.record(&m::STREAM_CONSUMER_PENDING, c.pending, &labels);
            rec.record(&m::STREAM_CONSUMER_IDLE, c.idle_ms / 1000.0, &labels);
        }
        // Folded per group: the pending entries of its consumers beyond the budget.
        let mut folded: Vec<((&String, &String), f64)> = Vec::new();
        for (_, (k, g, c)) in &rest {
            match folded.iter_mut().find(|(kg, _)| *kg == (*k, *g)) {
                Some((_, sum)) => *sum += c.pending,
                None => folded.push(((*k, *g), c.pending)),
            }
        }
        for ((k, g), sum) in folded {
            rec.record(&m::STREAM_CONSUMER_PENDING, sum, &[instance, k, g, OTHER]);
        }
        self.overflow_consumers += rest.len();
        Ok(())
    }

    /// The lag of a group at `id` in stream `key` of `len` entries, counted: the entries after
    /// `id`, or, when `id` is nearer the stream's start (judged by the millisecond part of the
    /// first, last and group's ids), `len` minus the entries up to `id`, whichever side looks
    /// smaller; each side is paged with `XRANGE` and bounded by `lag_count_limit`.
    fn count_lag(&mut self, key: &str, id: &str, len: f64) -> Result<f64, IntegrationError> {
        let first = self.range(key, "-", "+", 1)?.1;
        let last = self.range_rev_last(key)?;
        let before_is_smaller = match (first.as_deref(), last.as_deref()) {
            (Some(f), Some(l)) => streams::nearer_start(f, id, l),
            _ => false,
        };
        if before_is_smaller {
            let (before, complete) = self.count(key, "-", id)?;
            if complete {
                return Ok((len - before).max(0.0));
            }
        }
        Ok(self.count(key, &format!("({id}"), "+")?.0)
    }

    /// Entries of `key` from `start` to `end` (XRANGE bounds), counted in pages; whether the
    /// count is complete (not stopped by `lag_count_limit`).
    fn count(
        &mut self,
        key: &str,
        start: &str,
        end: &str,
    ) -> Result<(f64, bool), IntegrationError> {
        let mut from = start.to_string();
        let mut count = 0usize;
        while count < self.lag_count_limit {
            let page = RANGE_PAGE.min(self.lag_count_limit - count);
            let (n, last) = self.range(key, &from, end, page)?;
            count += n;
            match last {
                Some(last) if n == page => from = format!("({last}"),
                _ => return Ok((count as f64, true)),
            }
        }
        Ok((count as f64, false))
    }

    /// One `XRANGE key start end COUNT n`: how many entries and the last id.
    fn range(
        &mut self,
        key: &str,
        start: &str,
        end: &str,
        n: usize,
    ) -> Result<(usize, Option<String>), IntegrationError> {
        let v: Value = self.query(&format!("XRANGE {key}"), |c| {
            redis::cmd("XRANGE")
                .arg(key)
                .arg(start)
                .arg(end)
                .arg("COUNT")
                .arg(n)
                .query(c)
        })?;
        Ok(streams::range_page(&v))
    }

    /// The id of the newest entry of `key`.
    fn range_rev_last(&mut self, key: &str) -> Result<Option<String>, IntegrationError> {
        let v: Value = self.query(&format!("XREVRANGE {key}"), |c| {
            redis::cmd("XREVRANGE")
                .arg(key)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .query(c)
        })?;
        Ok(streams::range_page(&v).1)
    }
}

impl Integration for Redis {
    fn name(&self) -> &str {
        &self.name
    }

    fn collect(&mut self, rec: &mut Recorder) -> Result<(), IntegrationError> {
        let instance = self.instance.clone();
        let text: Result<String, _> = self.query("INFO", |c| {
            redis::cmd("INFO").arg("clients").arg("memory").query(c)
        });
        let text = match text {
            Ok(t) => t,
            Err(e) => {
                rec.record(&m::UP, 0.0, &[&instance]);
                return Err(e);
            }
        };
        rec.record(&m::UP, 1.0, &[&instance]);
        info::record(rec, &instance, &info::parse(&text));
        self.overflow_keys = 0;
        self.overflow_consumers = 0;
        let mut sources = Sources::new(&self.name);
        let lists = self.collect_lists(rec);
        sources.note("lists", lists);
        let streams = self.collect_streams(rec);
        sources.note("streams", streams);
        rec.record(
            &m::OVERFLOW_ENTITIES,
            self.overflow_keys as f64,
            &[&instance, "key"],
        );
        rec.record(
            &m::OVERFLOW_ENTITIES,
            self.overflow_consumers as f64,
            &[&instance, "consumer"],
        );
        sources.finish(rec)
    }
}
