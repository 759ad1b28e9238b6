//! `integrations.probes`: the targets, each with one kind of probe (`tcp`, `icmp`, `http` or
//! `dns`) and its own interval and timeout.

use super::{Probe, ProbeRun, dns, http, icmp, tcp};
use crate::integrations::{Context, Instance, Instances, Integration};
use dozor_config::{At, Duration};
use serde::Deserialize;

/// `integrations.probes`: the targets under `targets`, each its own integration
/// (`probes/<name>`) on its own schedule.
pub type Config = Instances<Target>;

/// One target: a name and exactly one of `tcp`, `icmp`, `http`, `dns`.
///
/// ```yaml
/// targets:
///   - {name: mes-db, tcp: {address: "mes-db.plant:5432"}}
///   - {name: mes-ping, interval: 10s, icmp: {host: mes.plant, count: 5}}
///   - name: order-list
///     http: {url: "https://mes.plant/api/orders?state=open", bearer_token_file: /etc/dozor/mes.token}
///   - {name: corp-dns, dns: {query: mes.plant, resolver: "10.0.0.53:53"}}
/// ```
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct Target {
    /// The `probe.target` attribute of its series, e.g. `order-list`; unique among the targets.
    pub name: String,
    /// Time between probes; the section's `interval` when unset.
    pub interval: Option<Duration>,
    /// Longest a probe may take, all phases together; the section's `timeout` when unset. A
    /// probe that runs out of it fails with `error.type="timeout"`.
    pub timeout: Option<Duration>,
    /// Connect over TCP.
    pub tcp: Option<tcp::TcpProbe>,
    /// Send ICMP echo requests (ping).
    pub icmp: Option<icmp::IcmpProbe>,
    /// Make an HTTP(S) request.
    pub http: Option<http::HttpProbe>,
    /// Resolve a name.
    pub dns: Option<dns::DnsProbe>,
}

/// What a kind of probe's configuration provides.
pub trait ProbeConfig {
    /// Reports every problem, with keys relative to the kind's own mapping.
    fn validate(&self, at: &mut At<'_>);
    /// The probe, or why it cannot be made (validation rules most of it out).
    fn build(&self, ctx: &Context) -> Result<Box<dyn Probe>, String>;
}

impl Target {
    /// The kinds set, with their keys.
    fn kinds(&self) -> Vec<(&'static str, &dyn ProbeConfig)> {
        let mut out: Vec<(&'static str, &dyn ProbeConfig)> = Vec::new();
        if let Some(c) = &self.tcp {
            out.push(("tcp", c));
        }
        if let Some(c) = &self.icmp {
            out.push(("icmp", c));
        }
        if let Some(c) = &self.http {
            out.push(("http", c));
        }
        if let Some(c) = &self.dns {
            out.push(("dns", c));
        }
        out
    }
}

impl Instance for Target {
    const LIST: &'static str = "targets";
    const NOUN: &'static str = "target";
    const LABEL: &'static str = "probe.target";

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self, at: &mut At<'_>) {
        at.positive_if_set("interval", self.interval);
        at.positive_if_set("timeout", self.timeout);
        let kinds = self.kinds();
        match kinds.as_slice() {
            [] => at.error(
                "name",
                "the target has no probe: set one of tcp, icmp, http, dns",
            ),
            [(key, c)] => c.validate(&mut at.at(key)),
            [(first, _), rest @ ..] => {
                for (key, _) in rest {
                    at.error(
                        key,
                        format!("a target has one probe, and this one has {first} already: make it a target of its own"),
                    );
                }
            }
        }
    }

    fn schedule(&self) -> (Option<Duration>, Option<Duration>) {
        (self.interval, self.timeout)
    }

    fn build(&self, timeout: std::time::Duration, ctx: &Context) -> Option<Box<dyn Integration>> {
        let (_, c) = *self.kinds().first()?;
        match c.build(ctx) {
            Ok(probe) => Some(Box::new(ProbeRun::new(&self.name, probe, timeout))),
            Err(e) => {
                tracing::error!(target = %self.name, error = %e, "Probe not built.");
                None
            }
        }
    }
}
