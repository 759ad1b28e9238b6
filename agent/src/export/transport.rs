//! One OTLP export call to one endpoint, over gRPC or HTTP/protobuf, for one signal (metrics
//! or logs: [`Signal`] gives the method, the path and the response type), with the delivery
//! headers of the protocol (`dozor-agent`, `dozor-stream`, `dozor-seq`, `dozor-oldest`,
//! `dozor-elsewhere` ([`super::handover`]), `authorization`), and the answer classified ([`super::retry`]).
//!
//! Batches are stored encoded in the buffer, so gRPC sends them through a pass-through codec
//! (no decode and re-encode); tonic applies gRPC gzip itself.

use super::config::{OtlpConfig, Protocol};
use super::retry::{Failure, classify_grpc, classify_http, parse_retry_after, retry_info};
use super::secrets::{TlsMaterial, Token};
use super::signal::Signal;
use anyhow::Context;
use bytes::{Buf, BufMut, Bytes};
use std::io::Write;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// Who is sending: the same on every request.
#[derive(Debug, Clone)]
pub struct Sender {
    /// `dozor-agent`: the resource's `service.instance.id`.
    pub agent: String,
    /// `dozor-stream`: 16 lowercase hex characters.
    pub stream: String,
    /// Bearer token, if configured.
    pub token: Option<Token>,
}

/// A stored batch ready to send, with its HTTP body compressed once for all its attempts.
#[derive(Debug, Clone)]
pub struct Body {
    /// The encoded export request.
    pub raw: Bytes,
    /// `raw` gzip-compressed, when some HTTP endpoint takes it so.
    gzipped: Option<Bytes>,
}

/// One client per endpoint.
pub struct Transport {
    endpoints: Vec<String>,
    kind: Kind,
    sender: Sender,
    signal: Signal,
}

enum Kind {
    Grpc(Vec<tonic::client::Grpc<Channel>>),
    Http {
        client: reqwest::Client,
        urls: Vec<String>,
        /// Per endpoint, whether it gets gzip.
        gzip: Vec<bool>,
    },
}

impl Transport {
    /// Builds clients for `signal`; connections are made lazily on first use.
    pub fn new(
        config: &OtlpConfig,
        tls: &TlsMaterial,
        sender: Sender,
        signal: Signal,
    ) -> anyhow::Result<Self> {
        let kind = match config.protocol {
            Protocol::Grpc => {
                let mut clients = Vec::new();
                for e in &config.endpoints {
                    let mut endpoint = Endpoint::from_shared(e.clone())
                        .with_context(|| format!("endpoint {e}"))?
                        .connect_timeout(config.timeout.0)
                        .timeout(config.timeout.0);
                    if e.starts_with("https://") {
                        endpoint = endpoint
                            .tls_config(grpc_tls(tls))
                            .with_context(|| format!("TLS settings for {e}"))?;
                    }
                    let mut grpc = tonic::client::Grpc::new(endpoint.connect_lazy());
                    if config.gzip.applies_to(e) {
                        grpc = grpc.send_compressed(CompressionEncoding::Gzip);
                    }
                    clients.push(grpc);
                }
                Kind::Grpc(clients)
            }
            Protocol::Http => {
                let mut builder = reqwest::Client::builder().timeout(config.timeout.0);
                if let Some(ca) = &tls.ca {
                    let certs = reqwest::Certificate::from_pem_bundle(ca)
                        .context("parsing the TLS CA file")?;
                    builder = builder.tls_certs_only(certs);
                }
                if let Some((cert, key)) = &tls.identity {
                    let mut pem = cert.clone();
                    pem.push(b'\n');
                    pem.extend_from_slice(key);
                    builder = builder.identity(
                        reqwest::Identity::from_pem(&pem)
                            .context("parsing the TLS client certificate and key")?,
                    );
                }
                let mut urls = Vec::new();
                for e in &config.endpoints {
                    let url = signal.http_url(e);
                    match (&tls.server_name, e.starts_with("https://")) {
                        (Some(name), true) => {
                            // Verify against `server_name`: address the URL to that name and
                            // resolve it to the endpoint's own address.
                            let (url, addr) = rename_host(&url, name)?;
                            builder = builder.resolve(name, addr);
                            urls.push(url);
                        }
                        _ => urls.push(url),
                    }
                }
                Kind::Http {
                    client: builder.build().context("building the HTTP client")?,
                    urls,
                    gzip: config
                        .endpoints
                        .iter()
                        .map(|e| config.gzip.applies_to(e))
                        .collect(),
                }
            }
        };
        Ok(Transport {
            endpoints: config.endpoints.clone(),
            kind,
            sender,
            signal,
        })
    }

    /// The signal this transport carries.
    pub fn signal(&self) -> Signal {
        self.signal
    }

    /// The endpoints as configured, in order.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// Prepares a stored batch for sending.
    pub fn body(&self, raw: Vec<u8>) -> Body {
        let gzipped = match &self.kind {
            Kind::Http { gzip, .. } if gzip.contains(&true) => Some(Bytes::from(gzip_bytes(&raw))),
            _ => None,
        };
        Body {
            raw: Bytes::from(raw),
            gzipped,
        }
    }

    /// Sends `body` to endpoint `i`: WAL record `seq` with `oldest` and the runs other endpoints
    /// acknowledged (`Some((seq, oldest, elsewhere))`; an empty `elsewhere` sends no header), or
    /// outside the buffer and its sequence (`None`: the agent's own counters when the buffer
    /// refuses them; cumulative values, so resending is harmless). `Ok` carries the number of
    /// points (log records) the collector reported as not stored (OTLP partial success).
    pub async fn send(
        &self,
        i: usize,
        body: &Body,
        delivery: Option<(u64, u64, &str)>,
    ) -> Result<i64, Failure> {
        let mut headers = vec![("dozor-agent", self.sender.agent.clone())];
        if let Some((seq, oldest, elsewhere)) = delivery {
            headers.push(("dozor-stream", self.sender.stream.clone()));
            headers.push(("dozor-seq", seq.to_string()));
            headers.push(("dozor-oldest", oldest.to_string()));
            if !elsewhere.is_empty() {
                headers.push(("dozor-elsewhere", elsewhere.to_string()));
            }
        }
        let auth = self.sender.token.as_ref().map(Token::header_value);
        match &self.kind {
            Kind::Grpc(clients) => {
                let mut grpc = clients[i].clone();
                grpc.ready().await.map_err(|e| Failure::Unreachable {
                    what: error_chain(&e),
                })?;
                let mut request = tonic::Request::new(body.raw.clone());
                let md = request.metadata_mut();
                for (k, v) in headers {
                    if let Ok(v) = v.parse() {
                        md.insert(k, v);
                    }
                }
                if let Some(Ok(v)) = auth.map(|a| a.parse()) {
                    md.insert("authorization", v);
                }
                let path = PathAndQuery::from_static(self.signal.grpc_path());
                match grpc.unary(request, path, RawCodec).await {
                    Ok(response) => Ok(self.signal.partial_rejections(response.get_ref())),
                    // tonic reports a failed connection as UNAVAILABLE with the transport error
                    // as its source; a collector's own UNAVAILABLE has none.
                    Err(status)
                        if status.code() == tonic::Code::Unavailable
                            && std::error::Error::source(&status).is_some() =>
                    {
                        Err(Failure::Unreachable {
                            what: error_chain(&status),
                        })
                    }
                    Err(status) => {
                        let hint = status
                            .metadata()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok())
                            .and_then(parse_retry_after)
                            .or_else(|| retry_info(status.details()));
                        Err(classify_grpc(status.code(), hint))
                    }
                }
            }
            Kind::Http { client, urls, gzip } => {
                let mut request = client
                    .post(&urls[i])
                    .header("content-type", "application/x-protobuf");
                request = match (gzip[i], &body.gzipped) {
                    (true, Some(gzipped)) => request
                        .header("content-encoding", "gzip")
                        .body(gzipped.clone()),
                    _ => request.body(body.raw.clone()),
                };
                for (k, v) in headers {
                    request = request.header(k, v);
                }
                if let Some(a) = auth {
                    request = request.header("authorization", a);
                }
                let response = request.send().await.map_err(|e| Failure::Unreachable {
                    what: error_chain(&e),
                })?;
                let status = response.status();
                if status.is_success() {
                    let body = response.bytes().await.unwrap_or_default();
                    return Ok(self.signal.partial_rejections(&body));
                }
                let hint = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                Err(classify_http(status.as_u16(), hint))
            }
        }
    }
}

/// The TLS settings of every `https://` gRPC endpoint.
fn grpc_tls(tls: &TlsMaterial) -> ClientTlsConfig {
    let mut config = ClientTlsConfig::new();
    config = match &tls.ca {
        Some(ca) => config.ca_certificate(Certificate::from_pem(ca)),
        None => config.with_native_roots(),
    };
    if let Some((cert, key)) = &tls.identity {
        config = config.identity(Identity::from_pem(cert, key));
    }
    if let Some(name) = &tls.server_name {
        config = config.domain_name(name.clone());
    }
    config
}

/// Replaces the host of `url` by `name`; returns the new URL and the old host's address.
fn rename_host(url: &str, name: &str) -> anyhow::Result<(String, std::net::SocketAddr)> {
    use std::net::ToSocketAddrs;
    let rest = url.strip_prefix("https://").context("not an https URL")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (_, port) = authority
        .rsplit_once(':')
        .context("endpoint without a port")?;
    let addr = authority
        .to_socket_addrs()
        .with_context(|| format!("resolving {authority}"))?
        .next()
        .with_context(|| format!("{authority} has no address"))?;
    Ok((format!("https://{name}:{port}/{path}"), addr))
}

/// Every error in a chain, `: `-separated (reqwest hides the cause behind "error sending").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn gzip_bytes(raw: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(raw.len() / 4),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(raw);
    enc.finish().unwrap_or_else(|_| raw.to_vec())
}

/// A gRPC codec that sends already-encoded bytes and returns the response's bytes.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Self::Error> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_the_host_keeping_port_and_path() {
        let (url, addr) =
            rename_host("https://127.0.0.1:4318/v1/metrics", "collector.test").unwrap();
        assert_eq!(url, "https://collector.test:4318/v1/metrics");
        assert_eq!(addr, "127.0.0.1:4318".parse().unwrap());
    }
}
