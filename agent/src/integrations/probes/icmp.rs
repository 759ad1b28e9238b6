//! ICMP echo probes. (Being written: a placeholder until then.)

use super::Probe;
use super::config::ProbeConfig;
use crate::integrations::Context;
use dozor_config::At;
use serde::Deserialize;

/// `icmp`: echo requests to a host.
#[derive(Debug, Default, Clone, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct IcmpProbe {
    /// Host name or address.
    pub host: String,
}

impl ProbeConfig for IcmpProbe {
    fn validate(&self, at: &mut At<'_>) {
        at.error("host", "ICMP probes are not built yet");
    }

    fn build(&self, _ctx: &Context) -> Result<Box<dyn Probe>, String> {
        Err("ICMP probes are not built yet".into())
    }
}
