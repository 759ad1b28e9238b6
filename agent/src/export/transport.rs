//! Sends one OTLP request over gRPC or HTTP/protobuf, trying endpoints in order.

use crate::config::{OtlpConfig, Protocol};
use dozor_metrics::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use dozor_metrics::otlp::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use prost::Message;
use std::io::Write;
use tonic::codec::CompressionEncoding;
use tonic::transport::{Channel, Endpoint};

/// Why a send failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The endpoint answered with a gRPC error status.
    #[error("collector answered {code:?}: {message}")]
    Status {
        /// gRPC status code.
        code: tonic::Code,
        /// Status message.
        message: String,
    },
    /// The endpoint answered with a non-success HTTP status.
    #[error("collector answered HTTP {0}")]
    Http(u16),
    /// No answer: connection refused, reset, or timed out.
    #[error("collector unreachable: {0}")]
    Unreachable(String),
}

impl SendError {
    /// True when the collector answered (it is up but refused), false when it could not be reached.
    pub fn is_refusal(&self) -> bool {
        match self {
            SendError::Status { code, .. } => !matches!(
                code,
                tonic::Code::Unavailable | tonic::Code::DeadlineExceeded
            ),
            SendError::Http(_) => true,
            SendError::Unreachable(_) => false,
        }
    }
}

/// One client per endpoint.
pub enum Transport {
    /// OTLP/gRPC.
    Grpc(Vec<(String, MetricsServiceClient<Channel>)>),
    /// OTLP/HTTP with protobuf bodies.
    Http {
        /// Shared HTTP client.
        client: reqwest::Client,
        /// (endpoint as configured, URL of `/v1/metrics`).
        endpoints: Vec<(String, String)>,
        /// Compress bodies.
        gzip: bool,
    },
}

impl Transport {
    /// Builds clients; connections are made lazily on first use.
    pub fn new(config: &OtlpConfig) -> anyhow::Result<Self> {
        Ok(match config.protocol {
            Protocol::Grpc => {
                let mut clients = Vec::new();
                for e in &config.endpoints {
                    let channel = Endpoint::from_shared(e.clone())?
                        .connect_timeout(config.timeout.0)
                        .timeout(config.timeout.0)
                        .connect_lazy();
                    let mut client = MetricsServiceClient::new(channel);
                    if config.gzip {
                        client = client.send_compressed(CompressionEncoding::Gzip);
                    }
                    clients.push((e.clone(), client));
                }
                Transport::Grpc(clients)
            }
            Protocol::Http => Transport::Http {
                client: reqwest::Client::builder()
                    .timeout(config.timeout.0)
                    .build()?,
                endpoints: config
                    .endpoints
                    .iter()
                    .map(|e| {
                        let url = if e.ends_with("/v1/metrics") {
                            e.clone()
                        } else {
                            format!("{}/v1/metrics", e.trim_end_matches('/'))
                        };
                        (e.clone(), url)
                    })
                    .collect(),
                gzip: config.gzip,
            },
        })
    }

    /// Tries each endpoint in order until one accepts; returns every attempt's outcome.
    pub async fn send_failover(
        &mut self,
        request: &ExportMetricsServiceRequest,
    ) -> Vec<(String, Result<(), SendError>)> {
        let mut outcomes = Vec::new();
        match self {
            Transport::Grpc(clients) => {
                for (endpoint, client) in clients.iter_mut() {
                    let result = client
                        .export(request.clone())
                        .await
                        .map(|_| ())
                        .map_err(|s| {
                            if s.code() == tonic::Code::Unavailable {
                                SendError::Unreachable(s.message().to_string())
                            } else {
                                SendError::Status {
                                    code: s.code(),
                                    message: s.message().to_string(),
                                }
                            }
                        });
                    let ok = result.is_ok();
                    outcomes.push((endpoint.clone(), result));
                    if ok {
                        break;
                    }
                }
            }
            Transport::Http {
                client,
                endpoints,
                gzip,
            } => {
                let body = encode_body(request, *gzip);
                for (endpoint, url) in endpoints.iter() {
                    let mut req = client
                        .post(url)
                        .header("content-type", "application/x-protobuf")
                        .body(body.clone());
                    if *gzip {
                        req = req.header("content-encoding", "gzip");
                    }
                    let result = match req.send().await {
                        Ok(resp) if resp.status().is_success() => Ok(()),
                        Ok(resp) => Err(SendError::Http(resp.status().as_u16())),
                        Err(e) => Err(SendError::Unreachable(e.to_string())),
                    };
                    let ok = result.is_ok();
                    outcomes.push((endpoint.clone(), result));
                    if ok {
                        break;
                    }
                }
            }
        }
        outcomes
    }
}

fn encode_body(request: &ExportMetricsServiceRequest, gzip: bool) -> Vec<u8> {
    let raw = request.encode_to_vec();
    if !gzip {
        return raw;
    }
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(raw.len() / 4),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(&raw);
    enc.finish().unwrap_or(raw)
}
