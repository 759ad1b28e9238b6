//! The `admin` section of the agent's configuration. Here rather than in `config` so that the
//! admin client needs nothing of the rest of the configuration (and `config`, which holds the
//! export section, does not import back from `admin`).

use serde::Deserialize;
use std::path::PathBuf;

/// The admin endpoint: read-only HTTP (`GET /v1/status`, `GET /v1/health`), see docs/admin.md.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct AdminConfig {
    /// Address the admin endpoint listens on; `off` (or empty) turns it off. Anything but a
    /// loopback address (`127.0.0.0/8`, `::1`) needs `token_file`.
    pub listen: String,
    /// File holding the token that requests must carry as `Authorization: Bearer <token>`
    /// (surrounding whitespace is trimmed). Unset: no token asked, loopback only.
    pub token_file: Option<PathBuf>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: DEFAULT_ADMIN_LISTEN.into(),
            token_file: None,
        }
    }
}

/// The admin endpoint's default address.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:8687";

impl AdminConfig {
    /// The address to listen on; `None` when turned off (or not an address: validation says so).
    pub fn address(&self) -> Option<std::net::SocketAddr> {
        let listen = self.listen.trim();
        if listen.is_empty() || listen == "off" {
            return None;
        }
        listen.parse().ok()
    }

    pub(crate) fn validate(&self, at: &mut dozor_config::At<'_>) {
        let listen = self.listen.trim();
        if listen.is_empty() || listen == "off" {
            return;
        }
        match listen.parse::<std::net::SocketAddr>() {
            Err(_) => at.error(
                "listen",
                format!(
                    "{listen:?} is not an address: use host:port, such as 127.0.0.1:8687, or off"
                ),
            ),
            Ok(addr) if !addr.ip().is_loopback() && self.token_file.is_none() => at.error(
                "listen",
                format!(
                    "{addr} is not a loopback address: set admin.token_file (a file holding the \
                     token clients must send) or listen on 127.0.0.1"
                ),
            ),
            Ok(_) => {}
        }
        if let Some(file) = &self.token_file {
            match std::fs::read_to_string(file) {
                Err(e) => at.error("token_file", format!("cannot read {}: {e}", file.display())),
                Ok(t) if t.trim().is_empty() => {
                    at.error("token_file", format!("{} is empty", file.display()))
                }
                Ok(t) if !t.trim().bytes().all(|b| b.is_ascii_graphic()) => at.error(
                    "token_file",
                    format!(
                        "{}: the token has characters not allowed in a header",
                        file.display()
                    ),
                ),
                Ok(_) => {}
            }
        }
    }
}
