//! Errors of the `kafka` integration as the agent reports them: a bounded kind and a message
//! naming the instance and the fix.

use super::client::ClientError;
use super::cluster::CoordinatorError;
use crate::integrations::IntegrationError;

/// `err` while `doing` something for `instance`.
pub fn client(instance: &str, doing: &str, err: &ClientError) -> IntegrationError {
    let (kind, fix) = match err {
        ClientError::Connect { .. } => (
            "connect",
            "check that the broker runs and listens there, and that bootstrap_servers (and the \
             addresses the brokers advertise) are reachable from the agent",
        ),
        ClientError::Timeout { .. } => (
            "timeout",
            "the broker accepted the connection but did not answer before the deadline (80% of \
             the integration's timeout): check the broker's load and logs, that \
             security.protocol matches the listener on that port (a TLS listener waits for a \
             handshake a PLAINTEXT client never starts), or raise the timeout",
        ),
        ClientError::Io { .. } => (
            "io",
            "the broker closed the connection: check that security.protocol matches the \
             listener on that port (a SASL listener drops clients that do not authenticate) \
             and the broker's logs",
        ),
        ClientError::Tls { .. } => (
            "tls",
            "the TLS settings are security.protocol, ssl.ca.location, ssl.certificate.location \
             with ssl.key.location, and ssl.endpoint.identification.algorithm",
        ),
        ClientError::Auth { .. } => (
            "auth",
            "check this instance's sasl.username and sasl.password (and sasl.mechanism) \
             against the broker's SASL users (for SCRAM: kafka-configs --describe \
             --entity-type users)",
        ),
        ClientError::Protocol { .. } => (
            "parse",
            "check that bootstrap_servers points at a Kafka broker, not another service",
        ),
        ClientError::Encode { .. } => (
            "internal",
            "this is a bug in the agent's Kafka client: please report it with this message",
        ),
        ClientError::Version { .. } => (
            "unsupported",
            "the broker is older than the agent supports (Kafka 0.10.2 or later is needed)",
        ),
    };
    IntegrationError::new(
        kind,
        format!("kafka instance {instance}: {doing}: {err}; {fix}"),
    )
}

/// A broker's error `code` while `doing` something for `instance`.
pub fn broker(instance: &str, doing: &str, code: i16) -> IntegrationError {
    let (kind, fix) = match code {
        29..=31 => (
            "permission",
            "grant the agent's principal Describe on the cluster, topics and groups",
        ),
        14..=16 => (
            "unavailable",
            "the group coordinator is loading or moved; the next collection retries",
        ),
        _ => ("broker", "see the broker's logs for this error code"),
    };
    IntegrationError::new(
        kind,
        format!("kafka instance {instance}: {doing}: the broker answered error code {code}; {fix}"),
    )
}

/// Finding a group's coordinator failed.
pub fn coordinator(instance: &str, group: &str, err: &CoordinatorError) -> IntegrationError {
    let doing = format!("finding the coordinator of group {group}");
    match err {
        CoordinatorError::Client(e) => client(instance, &doing, e),
        CoordinatorError::Broker(code) => broker(instance, &doing, *code),
    }
}
