//! HTTP(S) probes. (Being written: a placeholder until then.)

use super::Probe;
use super::config::ProbeConfig;
use crate::integrations::Context;
use dozor_config::At;
use serde::Deserialize;

/// `http`: a request.
#[derive(Debug, Default, Clone, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct HttpProbe {
    /// The URL.
    pub url: String,
}

impl ProbeConfig for HttpProbe {
    fn validate(&self, at: &mut At<'_>) {
        at.error("url", "HTTP probes are not built yet");
    }

    fn build(&self, _ctx: &Context) -> Result<Box<dyn Probe>, String> {
        Err("HTTP probes are not built yet".into())
    }
}
