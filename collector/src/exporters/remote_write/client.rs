//! The HTTP client of one endpoint: the remote_write 1.0 headers, the configured headers,
//! basic or bearer authentication from files, TLS, timeout.

use crate::config::remote_write::RemoteWrite;
use crate::exporters::{error_chain, with_tls};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::time::Duration;

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A secret or certificate file could not be read.
    #[error("exporters.remote_write[{index}].{key}: reading {path}: {source}")]
    Read {
        /// The entry.
        index: usize,
        /// The configuration key.
        key: &'static str,
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A secret is not a valid header value (the value itself is never shown).
    #[error("exporters.remote_write[{index}].{key}: contains characters not allowed in a header")]
    Header {
        /// The entry.
        index: usize,
        /// The configuration key.
        key: String,
    },
    /// reqwest refused the TLS material.
    #[error("exporters.remote_write[{index}].tls: {source}")]
    Tls {
        /// The entry.
        index: usize,
        /// What reqwest said.
        source: reqwest::Error,
    },
}

/// An answer to a write, or why there was none.
#[derive(Debug)]
pub enum Answer {
    /// An HTTP response, read whole.
    Response {
        /// Its status.
        status: u16,
        /// Its body (the receiver's reason for a refusal).
        body: bytes::Bytes,
        /// `Retry-After` in seconds, when given.
        retry_after: Option<Duration>,
    },
    /// No response: connection refused or reset, TLS failure, timeout.
    Transport(String),
}

/// Posts remote_write bodies to one endpoint.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    url: String,
    headers: HeaderMap,
    basic: Option<(String, String)>,
}

impl Client {
    /// A client for entry `index`; reads the secret and TLS files now.
    pub fn new(index: usize, config: &RemoteWrite) -> Result<Client, ClientError> {
        // One crypto provider for rustls in this process (the receivers use ring too).
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let read = |key: &'static str, path: &str| {
            std::fs::read(path).map_err(|source| ClientError::Read {
                index,
                key,
                path: path.to_string(),
                source,
            })
        };
        let secret = |key: &'static str, path: &str| -> Result<String, ClientError> {
            Ok(String::from_utf8_lossy(&read(key, path)?)
                .trim()
                .to_string())
        };
        let header = |key: &str, value: String| {
            let mut v = HeaderValue::try_from(value).map_err(|_| ClientError::Header {
                index,
                key: key.to_string(),
            })?;
            v.set_sensitive(true);
            Ok::<_, ClientError>(v)
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let key = format!("headers.{name}");
            let name =
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| ClientError::Header {
                    index,
                    key: key.clone(),
                })?;
            headers.insert(name, header(&key, value.clone())?);
        }
        let fixed = [
            (http::header::CONTENT_TYPE, "application/x-protobuf"),
            (http::header::CONTENT_ENCODING, "snappy"),
            (http::header::USER_AGENT, "dozor-collector"),
        ];
        for (name, value) in fixed {
            headers.insert(name, HeaderValue::from_static(value));
        }
        headers.insert(
            HeaderName::from_static("x-prometheus-remote-write-version"),
            HeaderValue::from_static("0.1.0"),
        );
        let mut basic = None;
        if let Some(b) = &config.basic_auth {
            let password = secret("basic_auth.password_file", &b.password_file)?;
            basic = Some((b.username.clone(), password));
        }
        if !config.bearer_token_file.is_empty() {
            let token = secret("bearer_token_file", &config.bearer_token_file)?;
            headers.insert(
                http::header::AUTHORIZATION,
                header("bearer_token_file", format!("Bearer {token}"))?,
            );
        }
        let tls_err = |source| ClientError::Tls { index, source };
        let builder = reqwest::Client::builder()
            .timeout(config.timeout.0)
            .connect_timeout(config.timeout.0)
            .redirect(reqwest::redirect::Policy::none());
        let builder = with_tls(builder, &config.tls, read, tls_err)?;
        Ok(Client {
            http: builder.build().map_err(tls_err)?,
            url: config.url.clone(),
            headers,
            basic,
        })
    }

    /// Posts one body.
    pub async fn write(&self, body: Vec<u8>) -> Answer {
        let mut request = self
            .http
            .post(&self.url)
            .headers(self.headers.clone())
            .body(body);
        if let Some((user, password)) = &self.basic {
            request = request.basic_auth(user, Some(password));
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                match response.bytes().await {
                    Ok(body) => Answer::Response {
                        status,
                        body,
                        retry_after,
                    },
                    Err(e) => Answer::Transport(error_chain(&e)),
                }
            }
            Err(e) => Answer::Transport(error_chain(&e)),
        }
    }
}
