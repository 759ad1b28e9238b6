//! The HTTP client: endpoints in failover order, authentication, TLS, timeout.

use crate::config::elasticsearch::Elasticsearch;
use crate::exporters::{error_chain, with_tls};
use http::HeaderValue;

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A secret or certificate file could not be read.
    #[error("exporters.elasticsearch.{key}: reading {path}: {source}")]
    Read {
        /// The configuration key.
        key: &'static str,
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// `api_key_env` names an unset variable.
    #[error("exporters.elasticsearch.api_key_env: environment variable {0} is not set")]
    Env(String),
    /// The API key is not a valid header value.
    #[error("exporters.elasticsearch: the API key contains characters not allowed in a header")]
    ApiKey,
    /// reqwest refused the TLS material.
    #[error("exporters.elasticsearch.tls: {0}")]
    Tls(reqwest::Error),
}

/// An answer to a bulk request, or why there was none.
#[derive(Debug)]
pub enum Answer {
    /// An HTTP response, read whole.
    Response {
        /// Its status.
        status: u16,
        /// Its body.
        body: bytes::Bytes,
    },
    /// No response: connection refused or reset, TLS failure, timeout.
    Transport(String),
}

/// Sends bulk requests to one endpoint at a time, moving to the next after a failure.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    urls: Vec<String>,
    current: usize,
    api_key: Option<HeaderValue>,
    basic: Option<(String, String)>,
}

fn read(key: &'static str, path: &str) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|source| ClientError::Read {
        key,
        path: path.to_string(),
        source,
    })
}

impl Client {
    /// A client for the configured endpoints; reads the secret and TLS files now.
    pub fn new(config: &Elasticsearch) -> Result<Client, ClientError> {
        // One crypto provider for rustls in this process (the receivers use ring too).
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let text = |key, path: &str| -> Result<String, ClientError> {
            Ok(String::from_utf8_lossy(&read(key, path)?)
                .trim()
                .to_string())
        };
        let key = if !config.api_key_file.is_empty() {
            Some(text("api_key_file", &config.api_key_file)?)
        } else if !config.api_key_env.is_empty() {
            Some(
                std::env::var(&config.api_key_env)
                    .map_err(|_| ClientError::Env(config.api_key_env.clone()))?
                    .trim()
                    .to_string(),
            )
        } else {
            None
        };
        let api_key = match key {
            Some(k) => {
                let mut v = HeaderValue::try_from(format!("ApiKey {k}"))
                    .map_err(|_| ClientError::ApiKey)?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        let basic = if config.username.is_empty() {
            None
        } else {
            Some((
                config.username.clone(),
                text("password_file", &config.password_file)?,
            ))
        };
        let builder = reqwest::Client::builder()
            .timeout(config.timeout.0)
            .connect_timeout(config.timeout.0);
        let builder = with_tls(builder, &config.tls, read, ClientError::Tls)?;
        let urls = config
            .endpoints
            .iter()
            .map(|e| format!("{}/_bulk", e.trim_end_matches('/')))
            .collect();
        Ok(Client {
            http: builder.build().map_err(ClientError::Tls)?,
            urls,
            current: 0,
            api_key,
            basic,
        })
    }

    /// The endpoint the next request goes to.
    pub fn endpoint(&self) -> &str {
        &self.urls[self.current]
    }

    /// Posts one NDJSON body to the current endpoint. After no answer, a 429 or a 5xx, the
    /// next request goes to the next endpoint.
    pub async fn bulk(&mut self, body: Vec<u8>) -> Answer {
        let mut request = self
            .http
            .post(&self.urls[self.current])
            .header(http::header::CONTENT_TYPE, "application/x-ndjson")
            .body(body);
        if let Some(key) = &self.api_key {
            request = request.header(http::header::AUTHORIZATION, key.clone());
        }
        if let Some((user, password)) = &self.basic {
            request = request.basic_auth(user, Some(password));
        }
        let answer = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Ok(body) => Answer::Response { status, body },
                    Err(e) => Answer::Transport(error_chain(&e)),
                }
            }
            Err(e) => Answer::Transport(error_chain(&e)),
        };
        let failed = match &answer {
            Answer::Response { status, .. } => *status == 429 || *status >= 500,
            Answer::Transport(_) => true,
        };
        if failed {
            self.current = (self.current + 1) % self.urls.len();
        }
        answer
    }
}
