//! `admin`: the read-only endpoint the `status` and `top` subcommands read
//! (`docs/collector-admin.md`).

use dozor_config::Validator;
use serde::Deserialize;
use std::net::SocketAddr;

/// The admin endpoint: `GET /v1/status` (JSON) and `GET /v1/health`, nothing else. On loopback
/// by default; another address needs `token_file`, so that no one else on the network reads
/// the fleet's names and state.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct Admin {
    /// Address to listen on, `IP:port`; `off` or empty: no admin endpoint. Default
    /// `127.0.0.1:8688` (this machine only).
    pub listen: String,
    /// File holding the token clients send as `authorization: Bearer <token>` (surrounding
    /// whitespace ignored, at least 16 characters). Required when `listen` is not a loopback
    /// address. Empty (default): no token asked on loopback.
    pub token_file: String,
}

impl Default for Admin {
    fn default() -> Self {
        Admin {
            listen: DEFAULT_LISTEN.into(),
            token_file: String::new(),
        }
    }
}

/// Default `admin.listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8688";

impl Admin {
    /// The address to listen on; `None` when the endpoint is off.
    pub fn address(&self) -> Option<Result<SocketAddr, String>> {
        match self.listen.trim() {
            "" | "off" => None,
            l => Some(l.parse::<SocketAddr>().map_err(|_| l.to_string())),
        }
    }

    pub(super) fn validate(&self, v: &mut Validator) {
        match self.address() {
            None => {}
            Some(Err(l)) => v.error(
                "admin.listen",
                format!("invalid address {l:?}: expected IP:port (e.g. 127.0.0.1:8688) or off"),
            ),
            Some(Ok(a)) if !a.ip().is_loopback() && self.token_file.is_empty() => v.error(
                "admin.listen",
                format!(
                    "{a} is not a loopback address: set admin.token_file too, so that only holders of the token read the fleet's state"
                ),
            ),
            Some(Ok(_)) => {}
        }
    }
}
