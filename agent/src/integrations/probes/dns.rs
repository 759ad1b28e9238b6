//! DNS probes. (Being written: a placeholder until then.)

use super::Probe;
use super::config::ProbeConfig;
use crate::integrations::Context;
use dozor_config::At;
use serde::Deserialize;

/// `dns`: a query.
#[derive(Debug, Default, Clone, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct DnsProbe {
    /// The name asked for.
    pub query: String,
}

impl ProbeConfig for DnsProbe {
    fn validate(&self, at: &mut At<'_>) {
        at.error("query", "DNS probes are not built yet");
    }

    fn build(&self, _ctx: &Context) -> Result<Box<dyn Probe>, String> {
        Err("DNS probes are not built yet".into())
    }
}
