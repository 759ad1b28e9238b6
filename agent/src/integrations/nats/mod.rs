//! The `nats` integration: JetStream streams (messages, bytes, first and last sequence,
//! consumers) and their consumers (pending, ack pending, redelivered, waiting, ack floor,
//! delivered), for each configured NATS server on its own kept connection.
//!
//! It reads through the client protocol's JetStream API ([`jetstream`]), with the user's
//! credentials, so no monitoring port is needed: one `$JS.API.STREAM.LIST` request per 256
//! streams, one `$JS.API.CONSUMER.LIST.<stream>` per reported stream and 256 consumers, and
//! one `$JS.API.STREAM.MSG.GET.<stream>` per consumer with messages pending (the age of its
//! oldest undelivered message).
//! The client is a small blocking one of the agent's own, with TLS by rustls ([`client`];
//! ADR 11 says why).
//! `dozor.nats.up` is 1 when the stream list was read; errors name the instance and the fix
//! ([`error`]). Each stream's consumer list is part of the `consumers` source of
//! `dozor.agent.scrape.source.success`; one failing does not stop the others.

mod client;
pub mod config;
mod error;
mod jetstream;

#[cfg(test)]
mod tests;

pub use config::Config;

use super::budget::{self, OTHER};
use super::filter::Filter;
use super::{Integration, IntegrationError, Sources};
use client::{Auth, Client, Failure, Tls};
use config::InstanceConfig;
use dozor_metrics::catalogue::nats as m;
use dozor_metrics::sample::Recorder;
use std::time::Duration;

/// At most this many pages of one list are read (256 items each on current servers).
const MAX_PAGES: usize = 1000;

/// One NATS server.
pub struct Nats {
    /// `nats/<instance>`: the `integration` label of the agent's scrape metrics.
    name: String,
    instance: String,
    target: String,
    auth: Auth,
    tls: Option<Tls>,
    client: Option<Client>,
    call_timeout: Duration,
    streams: Filter,
    consumers: Filter,
    expected: Vec<(String, String)>,
    max_series: usize,
}

/// An include and an exclude pattern.
impl Nats {
    /// The integration for `config`; connecting and each request may take a quarter of
    /// `timeout`.
    pub fn new(config: &InstanceConfig, timeout: Duration) -> Result<Nats, IntegrationError> {
        Ok(Nats {
            name: format!("nats/{}", config.name),
            instance: config.name.clone(),
            target: config.host_port().to_string(),
            auth: Auth {
                user: config.username.clone(),
                password: config.password.clone(),
                token: config.token.clone(),
            },
            tls: config.tls().map_err(|e| {
                IntegrationError::new("config", format!("instance {}: {e}", config.name))
            })?,
            client: None,
            call_timeout: timeout / 4,
            streams: Filter::new(&config.include_streams, &config.exclude_streams),
            consumers: Filter::new(&config.include_consumers, &config.exclude_consumers),
            expected: config
                .consumers
                .iter()
                .filter_map(|c| config::split_consumer(c))
                .map(|(s, c)| (s.to_string(), c.to_string()))
                .collect(),
            max_series: config.max_series(),
        })
    }

    /// Every page of the list at `subject`, on the kept connection (opened first when there
    /// is none; dropped when it fails, so the next call reconnects).
    fn list<T: for<'de> serde::Deserialize<'de>>(
        &mut self,
        subject: &str,
    ) -> Result<Vec<T>, IntegrationError> {
        let fail = |s: &Nats, f: &Failure| {
            error::explain(&s.instance, &s.target, subject, f, s.call_timeout)
        };
        if self.client.is_none() {
            let c = Client::connect(
                &self.target,
                &self.auth,
                self.tls.as_ref(),
                self.call_timeout,
            )
            .map_err(|f| fail(self, &f))?;
            self.client = Some(c);
        }
        let mut out = Vec::new();
        let mut offset = 0;
        for _ in 0..MAX_PAGES {
            let body = format!("{{\"offset\":{offset}}}");
            let client = self.client.as_mut().expect("connected above");
            let reply = match client.request(subject, body.as_bytes()) {
                Ok(r) => r,
                Err(f) => {
                    if matches!(f, Failure::Io(_) | Failure::Timeout | Failure::Protocol(_)) {
                        self.client = None;
                    }
                    return Err(fail(self, &f));
                }
            };
            let page = jetstream::parse::<T>(&reply.payload).map_err(|e| {
                IntegrationError::new(
                    "query",
                    format!("instance {}: {subject} failed: {e}", self.instance),
                )
            })?;
            let next = jetstream::next_offset(&page);
            out.extend(page.items);
            match next {
                Some(n) => offset = n,
                None => break,
            }
        }
        Ok(out)
    }

    /// Seconds since the stream received the consumer's oldest undelivered message: 0 with
    /// nothing pending, else one `$JS.API.STREAM.MSG.GET` of the next message after
    /// `delivered` on its filter subject. `None` when that message could not be read (gone
    /// meanwhile, or no permission): the series is left out, the run goes on.
    fn oldest_undelivered_age(&mut self, stream: &str, c: &jetstream::Consumer) -> Option<f64> {
        if c.num_pending == 0 {
            return Some(0.0);
        }
        let filter = match c.config.filter_subject.as_str() {
            "" => ">",
            f => f,
        };
        let body = serde_json::json!({"seq": c.delivered.stream_seq + 1, "next_by_subj": filter});
        let reply = self
            .client
            .as_mut()?
            .request(
                &format!("$JS.API.STREAM.MSG.GET.{stream}"),
                body.to_string().as_bytes(),
            )
            .ok()?;
        let get: jetstream::MsgGet = serde_json::from_slice(&reply.payload).ok()?;
        let at = jetstream::parse_time(&get.message?.time)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs_f64();
        Some((now - at).max(0.0))
    }

    fn collect_consumers(
        &mut self,
        rec: &mut Recorder,
        streams: &[String],
    ) -> Result<(), IntegrationError> {
        let mut all = Vec::new();
        let mut failed = Vec::new();
        for s in streams {
            match self.list::<jetstream::Consumer>(&format!("$JS.API.CONSUMER.LIST.{s}")) {
                Ok(cs) => all.extend(
                    cs.into_iter()
                        .filter(|c| self.consumers.wants(&c.name))
                        .map(|c| (format!("{s}\0{}", c.name), (s.clone(), c))),
                ),
                Err(e) => failed.push(e),
            }
        }
        let instance_owned = self.instance.clone();
        let instance = instance_owned.as_str();
        let found: Vec<(String, String)> = all
            .iter()
            .map(|(_, (s, c))| (s.clone(), c.name.clone()))
            .collect();
        let (kept, rest) = budget::split(all, self.max_series);
        for (_, (s, c)) in &kept {
            let labels = [instance, s.as_str(), c.name.as_str()];
            rec.record(&m::CONSUMER_EXISTS, 1.0, &labels);
            rec.record(&m::CONSUMER_PENDING, c.num_pending as f64, &labels);
            rec.record(&m::CONSUMER_ACK_PENDING, c.num_ack_pending as f64, &labels);
            rec.record(&m::CONSUMER_REDELIVERED, c.num_redelivered as f64, &labels);
            rec.record(&m::CONSUMER_WAITING, c.num_waiting as f64, &labels);
            rec.record(
                &m::CONSUMER_ACK_FLOOR,
                c.ack_floor.stream_seq as f64,
                &labels,
            );
            rec.record(
                &m::CONSUMER_DELIVERED,
                c.delivered.stream_seq as f64,
                &labels,
            );
            if let Some(age) = self.oldest_undelivered_age(s, c) {
                rec.record(&m::CONSUMER_LAG_AGE, age, &labels);
            }
        }
        if !rest.is_empty() {
            let sum = |f: fn(&jetstream::Consumer) -> u64| {
                rest.iter().map(|(_, (_, c))| f(c) as f64).sum::<f64>()
            };
            let labels = [instance, OTHER, OTHER];
            rec.record(&m::CONSUMER_PENDING, sum(|c| c.num_pending), &labels);
            rec.record(
                &m::CONSUMER_ACK_PENDING,
                sum(|c| c.num_ack_pending),
                &labels,
            );
            rec.record(
                &m::CONSUMER_REDELIVERED,
                sum(|c| c.num_redelivered),
                &labels,
            );
            rec.record(&m::CONSUMER_WAITING, sum(|c| c.num_waiting), &labels);
        }
        rec.record(
            &m::OVERFLOW_ENTITIES,
            rest.len() as f64,
            &[instance, "consumer"],
        );
        // Expected consumers the server does not have (yet), or whose stream failed to list.
        for (s, c) in &self.expected {
            if !found.iter().any(|(fs, fc)| fs == s && fc == c) {
                rec.record(&m::CONSUMER_EXISTS, 0.0, &[instance, s, c]);
            }
        }
        match failed.into_iter().next() {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }
}

impl Integration for Nats {
    fn name(&self) -> &str {
        &self.name
    }

    fn collect(&mut self, rec: &mut Recorder) -> Result<(), IntegrationError> {
        let instance = self.instance.clone();
        let streams = match self.list::<jetstream::Stream>("$JS.API.STREAM.LIST") {
            Ok(s) => s,
            Err(e) => {
                rec.record(&m::UP, 0.0, &[&instance]);
                return Err(e);
            }
        };
        rec.record(&m::UP, 1.0, &[&instance]);
        let streams: Vec<(String, jetstream::StreamState)> = streams
            .into_iter()
            .filter(|s| self.streams.wants(&s.config.name))
            .map(|s| (s.config.name, s.state))
            .collect();
        let (kept, rest) = budget::split(streams, self.max_series);
        for (name, st) in &kept {
            let labels = [instance.as_str(), name.as_str()];
            rec.record(&m::STREAM_MESSAGES, st.messages as f64, &labels);
            rec.record(&m::STREAM_BYTES, st.bytes as f64, &labels);
            rec.record(&m::STREAM_FIRST_SEQUENCE, st.first_seq as f64, &labels);
            rec.record(&m::STREAM_LAST_SEQUENCE, st.last_seq as f64, &labels);
            rec.record(&m::STREAM_CONSUMERS, st.consumer_count as f64, &labels);
        }
        if !rest.is_empty() {
            let labels = [instance.as_str(), OTHER];
            let sum = |f: fn(&jetstream::StreamState) -> u64| {
                rest.iter().map(|(_, s)| f(s) as f64).sum::<f64>()
            };
            rec.record(&m::STREAM_MESSAGES, sum(|s| s.messages), &labels);
            rec.record(&m::STREAM_BYTES, sum(|s| s.bytes), &labels);
            rec.record(&m::STREAM_CONSUMERS, sum(|s| s.consumer_count), &labels);
        }
        rec.record(
            &m::OVERFLOW_ENTITIES,
            rest.len() as f64,
            &[&instance, "stream"],
        );
        let names: Vec<String> = kept.into_iter().map(|(n, _)| n).collect();
        let mut sources = Sources::new(&self.name);
        let consumers = self.collect_consumers(rec, &names);
        sources.note("consumers", consumers);
        sources.finish(rec)
    }
}
