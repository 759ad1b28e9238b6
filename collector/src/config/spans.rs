//! `spans`: how OTLP traces become HTTP RED metrics, and where they are forwarded
//! (`docs/spans.md`).

use dozor_config::{Duration, Validator};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Spans received on `/v1/traces` and `TraceService/Export`: HTTP server and client spans
/// become `http.server.request.duration` and `http.client.request.duration` (and body sizes),
/// one set per service (`service.name` and `service.instance.id` of the resource).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct Spans {
    /// How often the RED metrics made from spans are stored (as cumulative histograms, like
    /// received metrics); also once at shutdown. Default `5s`.
    pub flush_interval: Duration,
    /// Services (resources) tracked at most; spans of further services are counted
    /// (`dozor.collector.spans{result="service_limit"}`) and make no metrics. Default 200.
    pub max_services: usize,
    /// A service whose last span is older than this is forgotten after one last flush; its
    /// series then expire with `store.series_ttl`. Default `1h`.
    pub service_ttl: Duration,
    /// Series of each service's RED metrics at most (its route budget): exchanges of routes
    /// past it are folded into route `_other` and counted in `dozor.http.overflow.series`.
    /// Default 500.
    pub max_series: usize,
    /// How request paths become routes when a span has no `http.route`: patterns, OpenAPI
    /// files and automatic templating of ids (the same rules as the agent's integrations).
    pub routes: dozor_red::routes::RoutesConfig,
    /// Forwarding of the received traces, unchanged, to a tracing backend. Absent (default):
    /// not forwarded.
    pub forward: Option<Forward>,
}

impl Default for Spans {
    fn default() -> Self {
        Spans {
            flush_interval: Duration(std::time::Duration::from_secs(5)),
            max_services: 200,
            service_ttl: Duration(std::time::Duration::from_secs(3600)),
            max_series: 500,
            routes: dozor_red::routes::RoutesConfig::default(),
            forward: None,
        }
    }
}

/// Forwarding to a tracing backend over OTLP/HTTP (protobuf). Requests are queued in memory
/// and sent one at a time; a full queue or a failed send drops the request, counted in
/// `dozor.collector.forwarded.spans` by outcome, and never slows the receivers.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct Forward {
    /// The backend's OTLP/HTTP traces URL, `http(s)://host:port/v1/traces`. Required.
    pub endpoint: String,
    /// Headers sent with every request (`authorization: Bearer ${TRACES_TOKEN}`): values
    /// may come from the environment and are never logged.
    pub headers: BTreeMap<String, String>,
    /// Time allowed for one request, connection included. Default `10s`.
    pub timeout: Duration,
    /// Sends of one request at most: a transport error, 429 or 5xx is retried (after 1 s,
    /// then 2 s, ...) up to this many attempts in all, then dropped. Default 3.
    pub max_attempts: u32,
    /// Bytes of requests waiting to be sent at most; a request that does not fit is dropped
    /// (`outcome="queue_full"`). Default 16777216 (16 MiB).
    pub queue_max_bytes: u64,
}

impl Default for Forward {
    fn default() -> Self {
        Forward {
            endpoint: String::new(),
            headers: BTreeMap::new(),
            timeout: Duration(std::time::Duration::from_secs(10)),
            max_attempts: 3,
            queue_max_bytes: 16 << 20,
        }
    }
}

impl Spans {
    /// Reports every problem of the section.
    pub fn validate(&self, v: &mut Validator) {
        if self.flush_interval.0 < std::time::Duration::from_millis(100) {
            v.error("spans.flush_interval", "must be at least 100ms");
        }
        for (key, n) in [
            ("spans.max_services", self.max_services),
            ("spans.max_series", self.max_series),
        ] {
            if n == 0 {
                v.error(key, "must be at least 1");
            }
        }
        if self.service_ttl.0 < self.flush_interval.0 {
            v.error(
                "spans.service_ttl",
                format!("must be at least flush_interval ({})", self.flush_interval),
            );
        }
        if let Err(e) = dozor_red::routes::Routes::new(&self.routes) {
            v.error("spans.routes", e.to_string());
        }
        if let Some(f) = &self.forward {
            f.validate(v);
        }
    }
}

impl Forward {
    fn validate(&self, v: &mut Validator) {
        let ok = ["http://", "https://"].iter().any(|s| {
            self.endpoint
                .strip_prefix(s)
                .is_some_and(|rest| !rest.is_empty())
        });
        if !ok {
            v.error(
                "spans.forward.endpoint",
                format!(
                    "invalid URL {:?}: expected http(s)://host:port/v1/traces",
                    self.endpoint
                ),
            );
        }
        for (name, value) in &self.headers {
            let path = format!("spans.forward.headers.{name}");
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                v.error(&path, "invalid header name");
            } else if http::HeaderValue::from_str(value).is_err() {
                // The value may be a secret: never echoed.
                v.error(&path, "invalid header value (control characters?)");
            }
        }
        if self.timeout.0.is_zero() {
            v.error("spans.forward.timeout", "must be longer than 0s");
        }
        if self.max_attempts == 0 {
            v.error("spans.forward.max_attempts", "must be at least 1");
        }
        if self.queue_max_bytes == 0 {
            v.error("spans.forward.queue_max_bytes", "must be at least 1");
        }
    }
}

#[cfg(test)]
mod tests {
    fn load(text: &str) -> Result<crate::config::Config, String> {
        dozor_config::load_str("c.yaml", text, &|_| None).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_forwarding() {
        let c =
            load("spans:\n  forward:\n    endpoint: http://127.0.0.1:4318/v1/traces\n").unwrap();
        assert_eq!(c.spans.max_series, 500);
        let f = c.spans.forward.unwrap();
        assert_eq!((f.max_attempts, f.queue_max_bytes), (3, 16 << 20));
        assert_eq!(load("").unwrap().spans.forward, None);
    }

    #[test]
    fn every_problem_is_reported_with_its_position() {
        let text = "spans:\n  flush_interval: 10ms\n  max_services: 0\n  routes:\n    patterns: [\"orders\"]\n  forward:\n    endpoint: tempo:4318\n    headers:\n      \"bad header\": x\n    max_attempts: 0\n";
        let err = load(text).unwrap_err();
        for want in [
            "c.yaml:2:3: spans.flush_interval: must be at least 100ms",
            "c.yaml:3:3: spans.max_services: must be at least 1",
            "c.yaml:4:3: spans.routes: pattern \"orders\"",
            "c.yaml:7:5: spans.forward.endpoint: invalid URL \"tempo:4318\"",
            "spans.forward.headers.bad header: invalid header name",
            "c.yaml:10:5: spans.forward.max_attempts: must be at least 1",
        ] {
            assert!(err.contains(want), "{want:?} not in\n{err}");
        }
        let secret = "spans:\n  forward:\n    endpoint: http://t/v1/traces\n    headers:\n      authorization: \"Bearer s3cr3t\\u0001\"\n";
        let err = load(secret).unwrap_err();
        assert!(
            err.contains("spans.forward.headers.authorization: invalid header value"),
            "{err}"
        );
        assert!(!err.contains("s3cr3t"), "{err}");
    }
}
