//! Turns client failures into [`IntegrationError`]s whose kind is one of `connect`, `auth`,
//! `permission`, `timeout`, `tls`, `plugin_missing`, `query`, `parse`, and whose message names
//! the instance and the fix.

use super::client::Failure;
use crate::integrations::IntegrationError;
use std::time::Duration;

/// Explains `f`, met by instance `instance` talking to `target` while `doing`.
pub fn explain(
    instance: &str,
    target: &str,
    doing: &str,
    f: &Failure,
    timeout: Duration,
) -> IntegrationError {
    let e = |kind, m: String| IntegrationError::new(kind, format!("instance {instance}: {m}"));
    match f {
        Failure::Timeout => e(
            "timeout",
            format!(
                "no answer from {target} to {doing} within {timeout:?} (a quarter of the integration's timeout): check that {target} is a NATS client port and the server's load, or raise integrations.nats.timeout"
            ),
        ),
        Failure::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => e(
            "connect",
            format!(
                "cannot connect to {target}: connection refused: check that nats-server runs there and listens on that address (-a) and port (-p)"
            ),
        ),
        Failure::Io(io) => e(
            "connect",
            format!(
                "connection to {target} failed during {doing}: {io}; reconnecting on the next run"
            ),
        ),
        Failure::Server(text) if text.contains("Authorization Violation") => e(
            "auth",
            format!(
                "{target} refused the credentials ({text}): check user and password, or token, for the instance"
            ),
        ),
        Failure::Server(text) if text.contains("Permissions Violation") => e(
            "permission",
            format!(
                "{text}: allow the user to publish to $JS.API.STREAM.LIST and $JS.API.CONSUMER.LIST.> and to subscribe to _INBOX.>"
            ),
        ),
        Failure::Server(text) => e(
            "query",
            format!("{target} answered {doing} with -ERR '{text}'"),
        ),
        Failure::TlsRequired => e(
            "tls",
            format!(
                "{target} requires TLS: set tls: true for the instance (and tls_ca_file when its certificate is not signed by a CA the system trusts)"
            ),
        ),
        Failure::Tls(why) => e(
            "tls",
            format!(
                "TLS with {target} failed: {why}: set tls_ca_file to the CA that signed the server's certificate, and tls_server_name to a name it carries"
            ),
        ),
        Failure::NoResponders => e(
            "plugin_missing",
            format!(
                "nothing answers {doing} on {target}: JetStream is not enabled: start nats-server with -js (or jetstream {{}} in its configuration), and enable it for the user's account"
            ),
        ),
        Failure::Protocol(text) => e(
            "parse",
            format!(
                "{target} does not speak the NATS client protocol ({text}): check the port (4222 by default; 8222 is the monitoring port)"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_names_the_instance_and_the_fix() {
        let io = |k| Failure::Io(std::io::Error::new(k, "x"));
        let cases = [
            (Failure::Timeout, "timeout", "within 1s"),
            (
                io(std::io::ErrorKind::ConnectionRefused),
                "connect",
                "check that nats-server runs",
            ),
            (
                io(std::io::ErrorKind::ConnectionReset),
                "connect",
                "reconnecting on the next run",
            ),
            (
                Failure::Server("Authorization Violation".into()),
                "auth",
                "check user and password",
            ),
            (
                Failure::Server(
                    "Permissions Violation for Publish to \"$JS.API.STREAM.LIST\"".into(),
                ),
                "permission",
                "allow the user to publish",
            ),
            (Failure::TlsRequired, "tls", "set tls: true"),
            (
                Failure::Tls("invalid peer certificate: UnknownIssuer".into()),
                "tls",
                "set tls_ca_file",
            ),
            (
                Failure::NoResponders,
                "plugin_missing",
                "start nats-server with -js",
            ),
            (
                Failure::Protocol("expected INFO".into()),
                "parse",
                "8222 is the monitoring port",
            ),
        ];
        for (f, kind, fix) in cases {
            let err = explain(
                "events",
                "127.0.0.1:4222",
                "STREAM.LIST",
                &f,
                Duration::from_secs(1),
            );
            assert_eq!(err.kind, kind, "{err}");
            assert!(err.message.starts_with("instance events: "), "{err}");
            assert!(err.message.contains(fix), "{err} lacks {fix}");
        }
    }
}
