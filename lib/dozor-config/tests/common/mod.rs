//! A configuration type shaped like dozor's, and helpers to load text into it.

use dozor_config::{ConfigError, Duration, RegexPattern, Validate, Validator};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct Config {
    #[serde(default)]
    pub integrations: Integrations,
    #[serde(default)]
    pub exporters: Exporters,
}

#[derive(Debug, Default, Deserialize)]
pub struct Integrations {
    #[serde(default)]
    pub host: Host,
    pub postgres: Option<Postgres>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Host {
    #[serde(default)]
    pub interval: Duration,
    pub interfaces: Option<RegexPattern>,
}

#[derive(Debug, Deserialize)]
pub struct Postgres {
    pub instances: Vec<Instance>,
}

#[derive(Debug, Deserialize)]
pub struct Instance {
    pub dsn: String,
    pub port: Option<u16>,
    pub interval: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Exporters {
    pub otlp: Option<Otlp>,
}

#[derive(Debug, Deserialize)]
pub struct Otlp {
    #[serde(default)]
    pub endpoints: Vec<String>,
    pub token: Option<String>,
    #[serde(default)]
    pub timeout: Duration,
}

impl Validate for Config {
    fn validate(&self, v: &mut Validator) {
        let Some(otlp) = &self.exporters.otlp else {
            return;
        };
        if otlp.endpoints.is_empty() {
            v.error(
                "exporters.otlp.endpoints",
                "at least one endpoint is required",
            );
        }
        for (i, endpoint) in otlp.endpoints.iter().enumerate() {
            if otlp.endpoints[..i].contains(endpoint) {
                v.error(
                    &format!("exporters.otlp.endpoints[{i}]"),
                    "duplicate endpoint",
                );
            }
        }
        if otlp.timeout.0.is_zero() {
            v.error("exporters.otlp.timeout", "must be more than 0s");
        }
    }
}

/// The environment the tests see.
pub fn env(name: &str) -> Option<String> {
    match name {
        "COLLECTOR" => Some("http://collector:4317".to_owned()),
        "SECRET_PORT" => Some("hunter2hunter2".to_owned()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

pub fn load<T: serde::de::DeserializeOwned + Validate>(text: &str) -> Result<T, ConfigError> {
    dozor_config::load_str("agent.yaml", text, &env)
}

/// The problems of a load that must fail, one displayed problem per line.
pub fn problems<T: serde::de::DeserializeOwned + Validate + std::fmt::Debug>(
    text: &str,
) -> Vec<String> {
    let error = load::<T>(text).expect_err("the load should fail");
    let lines: Vec<String> = error.to_string().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), error.problems.len(), "one line per problem");
    lines
}
