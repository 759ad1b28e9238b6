//! The bearer token and the TLS material, read once at start.
//!
//! The token is held in [`Token`], whose `Debug` and `Display` never show it, so no log line,
//! error or `check-config` output can echo it.

use super::config::{AuthConfig, TlsConfig};
use anyhow::{Context, bail};
use std::fmt;

/// A bearer token; printing it shows `<redacted>`.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// The value of the `authorization` header.
    pub fn header_value(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Reads the token as configured: `None` when no source is set.
pub fn token(auth: &AuthConfig) -> anyhow::Result<Option<Token>> {
    let raw = match (&auth.token_file, &auth.token_env) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => bail!("exporters.otlp.auth: set token_file or token_env, not both"),
        (Some(file), None) => std::fs::read_to_string(file)
            .with_context(|| format!("reading the token file {}", file.display()))?,
        (None, Some(var)) => std::env::var(var)
            .with_context(|| format!("reading the token from environment variable {var}"))?,
    };
    let token = raw.trim();
    if token.is_empty() {
        bail!("exporters.otlp.auth: the token is empty");
    }
    // Header values must be visible ASCII; say so without echoing the token.
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        bail!("exporters.otlp.auth: the token has characters not allowed in a header");
    }
    Ok(Some(Token(token.to_string())))
}

/// PEM material for TLS, read from the configured files.
#[derive(Default)]
pub struct TlsMaterial {
    /// CA certificates to trust instead of the system's.
    pub ca: Option<Vec<u8>>,
    /// Client certificate chain and key.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
    /// Name to verify the server certificate against.
    pub server_name: Option<String>,
}

impl fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("ca", &self.ca.is_some())
            .field("identity", &self.identity.is_some())
            .field("server_name", &self.server_name)
            .finish()
    }
}

/// Reads the configured TLS files.
pub fn tls(config: &TlsConfig) -> anyhow::Result<TlsMaterial> {
    let read = |p: &std::path::Path, what: &str| {
        std::fs::read(p).with_context(|| format!("reading the TLS {what} {}", p.display()))
    };
    let ca = config
        .ca_file
        .as_deref()
        .map(|p| read(p, "CA file"))
        .transpose()?;
    let identity = match (&config.cert_file, &config.key_file) {
        (Some(c), Some(k)) => Some((read(c, "certificate")?, read(k, "key")?)),
        (None, None) => None,
        _ => bail!("exporters.otlp.tls: cert_file and key_file go together"),
    };
    Ok(TlsMaterial {
        ca,
        identity,
        server_name: config.server_name.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_trimmed_and_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "  s3cr3t-value\n").unwrap();
        let auth = AuthConfig {
            token_file: Some(file),
            token_env: None,
        };
        let token = token(&auth).unwrap().unwrap();
        assert_eq!(token.header_value(), "Bearer s3cr3t-value");
        assert!(!format!("{token:?}").contains("s3cr3t"));
    }

    #[test]
    fn bad_tokens_are_refused_without_echo() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "two words").unwrap();
        let auth = AuthConfig {
            token_file: Some(file.clone()),
            token_env: None,
        };
        let err = token(&auth).unwrap_err().to_string();
        assert!(!err.contains("words"), "{err}");
        std::fs::write(&file, "\n").unwrap();
        assert!(token(&auth).is_err());
    }
}
