//! The signals the agent exports: each has its own buffer, stream, OTLP export method, HTTP
//! path and response type.

/// What a transport carries: each signal has its own buffer, stream, export method and path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// `ExportMetricsServiceRequest`s.
    Metrics,
    /// `ExportLogsServiceRequest`s.
    Logs,
}

impl Signal {
    /// The `signal` label of the agent's export self-metrics.
    pub fn label(self) -> &'static str {
        match self {
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    /// The OTLP/gRPC export method.
    pub(super) fn grpc_path(self) -> &'static str {
        match self {
            Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        }
    }

    /// The OTLP/HTTP path.
    fn http_path(self) -> &'static str {
        match self {
            Signal::Metrics => "/v1/metrics",
            Signal::Logs => "/v1/logs",
        }
    }

    /// Items the collector reported as not stored in an export response (OTLP partial
    /// success); 0 if it does not decode.
    pub(super) fn partial_rejections(self, response: &[u8]) -> i64 {
        use dozor_metrics::otlp::collector::logs::v1::ExportLogsServiceResponse;
        use dozor_metrics::otlp::collector::metrics::v1::ExportMetricsServiceResponse;
        use prost::Message;
        match self {
            Signal::Metrics => ExportMetricsServiceResponse::decode(response)
                .ok()
                .and_then(|r| r.partial_success)
                .map_or(0, |p| p.rejected_data_points),
            Signal::Logs => ExportLogsServiceResponse::decode(response)
                .ok()
                .and_then(|r| r.partial_success)
                .map_or(0, |p| p.rejected_log_records),
        }
    }

    /// The OTLP/HTTP URL for an endpoint: its base with the signal's path; an endpoint
    /// written with either signal's path has it replaced.
    pub(super) fn http_url(self, endpoint: &str) -> String {
        let base = endpoint.trim_end_matches('/');
        let base = [Signal::Metrics, Signal::Logs]
            .iter()
            .find_map(|s| base.strip_suffix(s.http_path()))
            .unwrap_or(base);
        format!("{base}{}", self.http_path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_signal_has_its_own_http_path() {
        let cases = [
            (Signal::Metrics, "http://c:4318", "http://c:4318/v1/metrics"),
            (Signal::Logs, "http://c:4318/", "http://c:4318/v1/logs"),
            (
                Signal::Logs,
                "http://c:4318/v1/metrics",
                "http://c:4318/v1/logs",
            ),
            (
                Signal::Metrics,
                "http://c:4318/v1/logs",
                "http://c:4318/v1/metrics",
            ),
            (
                Signal::Logs,
                "https://c/otlp/v1/logs",
                "https://c/otlp/v1/logs",
            ),
        ];
        for (signal, endpoint, want) in cases {
            assert_eq!(signal.http_url(endpoint), want, "{signal:?} {endpoint}");
        }
    }

    #[test]
    fn partial_success_is_read_per_signal() {
        use dozor_metrics::otlp::collector::logs::v1::{
            ExportLogsPartialSuccess, ExportLogsServiceResponse,
        };
        use prost::Message;
        let response = ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: 2,
                error_message: "bad".into(),
            }),
        }
        .encode_to_vec();
        assert_eq!(Signal::Logs.partial_rejections(&response), 2);
        assert_eq!(Signal::Logs.partial_rejections(b"\xff"), 0);
    }
}
