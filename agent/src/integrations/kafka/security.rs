//! `security.protocol` and what it needs: TLS (the agent's shared rustls settings, see
//! [`crate::integrations::db::tls`], under Kafka's own key names) and SASL ([`super::sasl`]).

use super::sasl::Sasl;
use crate::integrations::db::tls::{self, Dialect, Mode, Roots, Settings};

/// Kafka's key names for the TLS settings. The mode key is the endpoint identification:
/// `https` checks the host name ([`Mode::VerifyFull`]), `none` the chain only
/// ([`Mode::VerifyCa`]). Kafka's clients always check the chain, so no weaker mode is offered.
pub static KAFKA: Dialect = Dialect {
    mode: "ssl.endpoint.identification.algorithm",
    root: "ssl.ca.location",
    cert: "ssl.certificate.location",
    key: "ssl.key.location",
    values: ["", "", "", "", "none", "https"],
};

/// `security.protocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl Protocol {
    /// The values `security.protocol` accepts.
    pub const NAMES: [&'static str; 4] = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];

    /// `name` as Kafka's clients spell it (case-insensitive).
    pub fn parse(name: &str) -> Option<Protocol> {
        match name.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(Protocol::Plaintext),
            "SSL" => Some(Protocol::Ssl),
            "SASL_PLAINTEXT" => Some(Protocol::SaslPlaintext),
            "SASL_SSL" => Some(Protocol::SaslSsl),
            _ => None,
        }
    }

    /// Whether the connection is TLS.
    pub fn tls(self) -> bool {
        matches!(self, Protocol::Ssl | Protocol::SaslSsl)
    }

    /// Whether the connection authenticates with SASL.
    pub fn sasl(self) -> bool {
        matches!(self, Protocol::SaslPlaintext | Protocol::SaslSsl)
    }
}

/// What every connection of one instance does after TCP connect.
#[derive(Clone, Debug, Default)]
pub struct Security {
    /// TLS settings, for `SSL` and `SASL_SSL`.
    pub tls: Option<Settings>,
    /// Credentials, for `SASL_PLAINTEXT` and `SASL_SSL`.
    pub sasl: Option<Sasl>,
}

/// The TLS settings from Kafka's keys: the CA file (the system's store when unset), the
/// client certificate and key (both or neither), and whether the host name is checked.
pub fn tls_settings(
    ca: Option<&str>,
    cert: Option<&str>,
    key: Option<&str>,
    identify_endpoint: bool,
) -> Result<Settings, String> {
    Ok(Settings {
        mode: if identify_endpoint {
            Mode::VerifyFull
        } else {
            Mode::VerifyCa
        },
        roots: ca.map_or(Roots::System, |p| Roots::File(p.into())),
        identity: KAFKA.identity(cert, key)?,
        dialect: &KAFKA,
    })
}

/// Why a TLS handshake failed and what to change, in Kafka's key names.
pub fn explain(settings: &Settings, error: &(dyn std::error::Error + 'static)) -> String {
    use rustls::CertificateError::{BadSignature, UnknownIssuer};
    if let Some(rustls::Error::InvalidCertificate(e @ (UnknownIssuer | BadSignature))) =
        tls::find::<rustls::Error>(error)
    {
        let root = match &settings.roots {
            Roots::File(p) => format!("ssl.ca.location {}", p.display()),
            _ => "the system's CA store (ssl.ca.location is not set)".to_string(),
        };
        return format!(
            "the broker's certificate is not signed by a CA in {root} ({e:?}): set \
             ssl.ca.location to the PEM file of the CA that signed the brokers' certificates"
        );
    }
    settings
        .explain(error)
        .unwrap_or_else(|| format!("the TLS handshake failed: {error}"))
}
