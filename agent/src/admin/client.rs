//! The CLI's side of the admin endpoint: a blocking HTTP/1.1 GET with one total deadline
//! (connect, send and read together), the endpoint found from `--admin`, else the
//! configuration's `admin.listen`, the token from `--admin-token-file`, else `admin.token_file`.
//!
//! Plain `std` sockets: the answer is one small document from loopback, and a client without a
//! runtime can be used from any subcommand (`status`, `top`, `diagnose`, `flare`).

use super::config::AdminConfig;
use super::status::Status;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Default total timeout of one request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest answer read.
const MAX_ANSWER_BYTES: u64 = 16 * 1024 * 1024;

/// Why the admin endpoint could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `admin.listen` is `off` and no `--admin` was given.
    #[error("the admin endpoint is off (admin.listen: off)")]
    Disabled,
    /// The address is not `http://host:port` or `host:port`.
    #[error("{0:?} is not an admin address (http://host:port)")]
    BadUrl(String),
    /// The token file could not be read.
    #[error("cannot read the admin token file {path}: {error}")]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// Nothing answered (refused, unreachable, reset).
    #[error("no dozor-agent answered at {url}: {error}")]
    Unreachable {
        /// The address tried.
        url: String,
        /// The socket error.
        error: String,
    },
    /// No complete answer within the deadline.
    #[error("{url} did not answer within {after:?}")]
    Timeout {
        /// The address tried.
        url: String,
        /// The deadline.
        after: Duration,
    },
    /// 401: no token, or the wrong one.
    #[error("{url} refused the request: a valid admin token is required (401)")]
    Unauthorized {
        /// The address tried.
        url: String,
    },
    /// Any other status than 200.
    #[error("{url} answered HTTP {status}: {body}")]
    Http {
        /// The address tried.
        url: String,
        /// Status code.
        status: u16,
        /// The first line of the body.
        body: String,
    },
    /// The answer was not a status document (another program on that port?).
    #[error("{url} answered something that is not a dozor-agent status: {error}")]
    Decode {
        /// The address tried.
        url: String,
        /// Why.
        error: String,
    },
}

impl ClientError {
    /// What to do about it.
    pub fn fix(&self) -> String {
        match self {
            ClientError::Disabled => {
                "set admin.listen (default 127.0.0.1:8687) and restart the agent, or pass --admin URL".into()
            }
            ClientError::BadUrl(_) => "pass --admin http://127.0.0.1:8687 (host:port of admin.listen)".into(),
            ClientError::TokenFile { .. } => {
                "pass --admin-token-file FILE readable by this user, or run as the agent's user".into()
            }
            ClientError::Unreachable { .. } | ClientError::Timeout { .. } => {
                "start the agent (systemctl start dozor-agent), or point at it: --config with the agent's file (its admin.listen) or --admin URL".into()
            }
            ClientError::Unauthorized { .. } => {
                "pass --admin-token-file with the file admin.token_file names (or --config with the agent's file)".into()
            }
            ClientError::Http { .. } | ClientError::Decode { .. } => {
                "check that --admin (or admin.listen) points at a dozor-agent".into()
            }
        }
    }
}

/// A client of one agent's admin endpoint.
#[derive(Debug, Clone)]
pub struct Client {
    url: String,
    authority: String,
    token: Option<String>,
    timeout: Duration,
}

impl Client {
    /// A client for `url` (`http://host:port` or `host:port`) sending `token`, if any.
    pub fn new(url: &str, token: Option<String>, timeout: Duration) -> Result<Client, ClientError> {
        let authority = url
            .trim()
            .strip_prefix("http://")
            .unwrap_or(url.trim())
            .trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') || !authority.contains(':') {
            return Err(ClientError::BadUrl(url.to_string()));
        }
        Ok(Client {
            url: format!("http://{authority}"),
            authority: authority.to_string(),
            token,
            timeout,
        })
    }

    /// The client the CLI uses: `admin` (`--admin`), else `config.listen`; the token from
    /// `token_file` (`--admin-token-file`), else `config.token_file`.
    pub fn from_config(
        admin: Option<&str>,
        token_file: Option<&Path>,
        config: &AdminConfig,
        timeout: Duration,
    ) -> Result<Client, ClientError> {
        let url = match admin {
            Some(url) => url.to_string(),
            None => {
                let addr = config.address().ok_or(ClientError::Disabled)?;
                // An agent listening on every address is asked on loopback.
                let host = match addr.ip() {
                    ip if ip.is_unspecified() && addr.is_ipv4() => "127.0.0.1".to_string(),
                    ip if ip.is_unspecified() => "[::1]".to_string(),
                    _ => addr.ip().to_string(),
                };
                let host = if addr.is_ipv6() && !host.starts_with('[') {
                    format!("[{host}]")
                } else {
                    host
                };
                format!("http://{host}:{}", addr.port())
            }
        };
        let token = match token_file.or(config.token_file.as_deref()) {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|error| ClientError::TokenFile {
                        path: path.to_path_buf(),
                        error,
                    })?
                    .trim()
                    .to_string(),
            ),
            None => None,
        };
        Client::new(&url, token, timeout)
    }

    /// The base URL asked (for the other admin commands' messages).
    #[allow(dead_code)]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `GET path`: the status code and body, within the total timeout.
    pub fn get(&self, path: &str) -> Result<(u16, String), ClientError> {
        let deadline = Instant::now() + self.timeout;
        let unreachable = |error: std::io::Error| {
            if matches!(
                error.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) {
                ClientError::Timeout {
                    url: self.url.clone(),
                    after: self.timeout,
                }
            } else {
                ClientError::Unreachable {
                    url: self.url.clone(),
                    error: error.to_string(),
                }
            }
        };
        let left = || {
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        };
        let addrs: Vec<SocketAddr> = self
            .authority
            .to_socket_addrs()
            .map_err(unreachable)?
            .collect();
        let mut last = None;
        let mut stream = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, left()) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let mut stream = match stream {
            Some(s) => s,
            None => {
                return Err(unreachable(last.unwrap_or_else(|| {
                    std::io::Error::other("the address resolves to nothing")
                })));
            }
        };
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: dozor-agent/{}\r\nConnection: close\r\n",
            self.authority,
            env!("CARGO_PKG_VERSION")
        );
        if let Some(token) = &self.token {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        request.push_str("\r\n");
        stream
            .set_write_timeout(Some(left()))
            .map_err(unreachable)?;
        stream.write_all(request.as_bytes()).map_err(unreachable)?;
        let mut answer = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        let mut reader = (&mut stream).take(MAX_ANSWER_BYTES);
        loop {
            reader
                .get_mut()
                .set_read_timeout(Some(left()))
                .map_err(unreachable)?;
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(unreachable(e)),
            }
            if Instant::now() >= deadline {
                return Err(ClientError::Timeout {
                    url: self.url.clone(),
                    after: self.timeout,
                });
            }
        }
        let text = String::from_utf8_lossy(&answer);
        let decode = |error: &str| ClientError::Decode {
            url: self.url.clone(),
            error: error.to_string(),
        };
        let (head, body) = text
            .split_once("\r\n\r\n")
            .ok_or_else(|| decode("no HTTP answer"))?;
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| decode("no HTTP status line"))?;
        Ok((status, body.to_string()))
    }

    /// `GET /v1/status`, decoded.
    pub fn status(&self) -> Result<Status, ClientError> {
        let (code, body) = self.get("/v1/status")?;
        match code {
            200 => serde_json::from_str(&body).map_err(|e| ClientError::Decode {
                url: self.url.clone(),
                error: e.to_string(),
            }),
            401 => Err(ClientError::Unauthorized {
                url: self.url.clone(),
            }),
            status => Err(ClientError::Http {
                url: self.url.clone(),
                status,
                body: body.lines().next().unwrap_or("").to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_address_from_the_flag_or_the_config() {
        let config = AdminConfig::default();
        let c = Client::from_config(None, None, &config, DEFAULT_TIMEOUT).unwrap();
        assert_eq!(c.url(), "http://127.0.0.1:8687");
        let c = Client::from_config(Some("127.0.0.1:9"), None, &config, DEFAULT_TIMEOUT).unwrap();
        assert_eq!(c.url(), "http://127.0.0.1:9");
        let any = AdminConfig {
            listen: "[::]:8700".into(),
            token_file: None,
        };
        let c = Client::from_config(None, None, &any, DEFAULT_TIMEOUT).unwrap();
        assert_eq!(c.url(), "http://[::1]:8700");
        let off = AdminConfig {
            listen: "off".into(),
            token_file: None,
        };
        assert!(matches!(
            Client::from_config(None, None, &off, DEFAULT_TIMEOUT),
            Err(ClientError::Disabled)
        ));
        assert!(Client::new("http://x/y/z", None, DEFAULT_TIMEOUT).is_err());
    }
}
