//! What needs attention in a status, most urgent first, each problem with its fix: data being
//! lost (buffer full), then a collector not taking data, then integrations failing. The fixes
//! map error classes (and the words of the errors that carry them) to what an admin does.

use super::status::{Attention, EndpointStatus, Status};
use std::collections::BTreeMap;

/// The configuration section of an integration named `section/instance` or `section`.
fn section(name: &str) -> &str {
    name.split('/').next().unwrap_or(name)
}

/// The fix for an integration error of class `kind`. An error message that names its own fix
/// (PostgreSQL's `GRANT pg_monitor TO <role>`) gives it.
pub fn integration_fix(name: &str, kind: &str, message: &str) -> String {
    let section = section(name);
    if let Some(at) = message.find("GRANT ") {
        return format!("as a superuser, run: {}", message[at..].trim_end());
    }
    let lower = message.to_ascii_lowercase();
    match kind {
        "permission" => format!(
            "give the agent's user the access integrations.{section} needs (for PostgreSQL: GRANT pg_monitor TO <role>; for files and capture: run as a user that may read them)"
        ),
        "connect" if lower.contains("refused") => format!(
            "nothing listens at the address in integrations.{section}: start the server or correct the address"
        ),
        "connect" => format!(
            "check that the server of integrations.{section} runs and is reachable from this host (address, DNS, firewall, TLS)"
        ),
        "auth" => format!(
            "check the user and password (or token) in integrations.{section}, and that the server allows this host"
        ),
        "timeout" => format!(
            "the source is too slow or hangs (a long query, a lock, packets dropped): check it, or raise integrations.{section}.timeout; `dozor-agent check {name}` runs it once"
        ),
        "config" => format!(
            "correct integrations.{section} in the configuration (`dozor-agent check-config` lists every problem)"
        ),
        "query" => format!(
            "run the query of integrations.{section} by hand against the server: the error shows the missing object or grant"
        ),
        "io" => format!(
            "check that the files integrations.{section} reads exist and that the agent may read them"
        ),
        "parse" => "the source answered something the agent cannot read: check its version is supported; send `dozor-agent flare` to the developers".into(),
        "panic" => "a bug in the agent: send `dozor-agent flare` to the developers".into(),
        _ => format!("`dozor-agent check {name}` runs it once and shows the error in full"),
    }
}

/// The problem and fix of an endpoint whose last request failed.
fn endpoint_attention(e: &EndpointStatus) -> Attention {
    let ep = &e.endpoint;
    let err = e.last_error.as_deref().unwrap_or("failed");
    let lower = err.to_ascii_lowercase();
    let kept = "; data is kept in the buffer meanwhile";
    let (problem, fix) = match e.last_error_type.as_deref() {
        Some("unauthenticated") => (
            format!("collector {ep} refuses the agent's token ({err})"),
            "set exporters.otlp.auth.token_file (or token_env) to the token the collector's auth.tokens_file lists for this agent".to_string(),
        ),
        Some("unreachable")
            if lower.contains("unknownissuer")
                || lower.contains("unknown issuer")
                || lower.contains("certificate")
                || lower.contains("tls")
                || lower.contains("handshake") =>
        {
            let fix = if lower.contains("notvalidforname") || lower.contains("not valid for") {
                "set exporters.otlp.tls.server_name to a name the collector's certificate holds, or use that name in exporters.otlp.endpoints"
            } else if lower.contains("expired") || lower.contains("notvalidyet") {
                "renew the collector's certificate (or correct this host's clock)"
            } else {
                "set exporters.otlp.tls.ca_file to the CA certificate that signed the collector's certificate"
            };
            (
                format!("TLS to collector {ep} fails: the certificate is not trusted ({err})"),
                fix.to_string(),
            )
        }
        Some("unreachable") if lower.contains("refused") => (
            format!("collector {ep} is unreachable: connection refused"),
            format!("start the collector (systemctl start dozor-collector) or correct exporters.otlp.endpoints{kept}"),
        ),
        Some("unreachable") if lower.contains("timed out") || lower.contains("timeout") => (
            format!("collector {ep} does not answer (timed out)"),
            format!("check the network and firewall between this host and the collector{kept}"),
        ),
        Some("unreachable") => (
            format!("collector {ep} is unreachable ({err})"),
            format!("check the host name and port in exporters.otlp.endpoints and that the collector runs{kept}"),
        ),
        Some("retryable") if e.retry_after_seconds.is_some() => (
            format!(
                "collector {ep} is at a limit and asks the agent to wait {:.0} s ({err})",
                e.retry_after_seconds.unwrap_or(0.0)
            ),
            format!("see `dozor-collector status` for the limit reached (rate, series, memory){kept}"),
        ),
        Some("rejected") => (
            format!("collector {ep} rejects batches ({err})"),
            "a batch too large: lower exporters.otlp.max_batch_points, or raise the collector's receiver size limit".into(),
        ),
        _ => (
            format!("collector {ep} does not take data ({err})"),
            format!("check the collector's log, and that the endpoint is a dozor collector (gRPC :4317, HTTP :4318){kept}"),
        ),
    };
    Attention { problem, fix }
}

/// Every problem in `status`, most urgent first. `recent_drops` holds the signals whose buffer
/// dropped data lately, with the total dropped.
pub fn attention(status: &Status, recent_drops: &BTreeMap<String, u64>) -> Vec<Attention> {
    let mut out = Vec::new();
    let failing: Vec<&EndpointStatus> = status
        .export
        .iter()
        .filter(|e| e.connected == Some(false))
        .collect();
    for (signal, b) in &status.buffer {
        let items = if signal == "metrics" {
            "data points"
        } else {
            "log records"
        };
        let full =
            b.limit_bytes > 0 && b.bytes.saturating_mul(10) >= b.limit_bytes.saturating_mul(9);
        let problem = if let Some(n) = recent_drops.get(signal) {
            format!(
                "the {signal} buffer is full: {n} {items} dropped so far (oldest first), {} of {} bytes used",
                b.bytes, b.limit_bytes
            )
        } else if b.paused {
            format!(
                "the {signal} buffer is full ({} of {} bytes): collection is paused",
                b.bytes, b.limit_bytes
            )
        } else if full {
            format!(
                "the {signal} buffer is nearly full ({} of {} bytes): the oldest data will be dropped",
                b.bytes, b.limit_bytes
            )
        } else {
            continue;
        };
        let key = if signal == "metrics" {
            "exporters.otlp.buffer.max_bytes"
        } else {
            "exporters.otlp.logs.buffer.max_bytes"
        };
        let fix = match failing.iter().find(|e| &e.signal == signal) {
            Some(e) => {
                let cause = endpoint_attention(e);
                format!("{} is why — {}; or raise {key}", cause.problem, cause.fix)
            }
            None => format!(
                "the collector takes data slower than it comes: raise {key} or exporters.otlp.replay_rate"
            ),
        };
        out.push(Attention { problem, fix });
    }
    for e in &failing {
        let a = endpoint_attention(e);
        if !out.iter().any(|o: &Attention| o.problem == a.problem) {
            out.push(a);
        }
    }
    for i in &status.integrations {
        if i.result == "error" || i.result == "timeout" {
            out.push(Attention {
                problem: format!(
                    "integration {} failed ({}): {}",
                    i.name,
                    i.error_type.as_deref().unwrap_or(&i.result),
                    i.error.as_deref().unwrap_or("")
                ),
                fix: i.fix.clone().unwrap_or_default(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::status::{BufferStatus, IntegrationStatus};

    #[test]
    fn fixes_follow_the_error_class() {
        assert_eq!(
            integration_fix(
                "postgresql/shop",
                "permission",
                "instance shop: role dozor lacks pg_monitor, so ...: GRANT pg_monitor TO dozor"
            ),
            "as a superuser, run: GRANT pg_monitor TO dozor"
        );
        let f = integration_fix(
            "redis/cache",
            "connect",
            "Connection refused (os error 111)",
        );
        assert!(
            f.contains("nothing listens") && f.contains("integrations.redis"),
            "{f}"
        );
        assert!(integration_fix("sql", "timeout", "").contains("integrations.sql.timeout"));
        assert!(integration_fix("mysql/x", "auth", "denied").contains("password"));
    }

    fn endpoint(kind: &str, error: &str) -> EndpointStatus {
        EndpointStatus {
            signal: "metrics".into(),
            endpoint: "https://c:4317".into(),
            connected: Some(false),
            breaker: "open".into(),
            last_error_type: Some(kind.into()),
            last_error: Some(error.into()),
            ..EndpointStatus::default()
        }
    }

    #[test]
    fn export_failures_name_their_fix() {
        let cases = [
            ("unauthenticated", "HTTP 401", "auth.token_file"),
            (
                "unreachable",
                "error sending request: invalid peer certificate: UnknownIssuer",
                "tls.ca_file",
            ),
            (
                "unreachable",
                "tcp connect error: Connection refused (os error 111)",
                "start the collector",
            ),
        ];
        for (kind, error, fix) in cases {
            let a = endpoint_attention(&endpoint(kind, error));
            assert!(a.fix.contains(fix), "{kind} {error}: {a:?}");
        }
    }

    #[test]
    fn data_loss_comes_first_and_names_the_cause() {
        let status = Status {
            integrations: vec![IntegrationStatus {
                name: "sql".into(),
                result: "timeout".into(),
                fix: Some("f".into()),
                ..IntegrationStatus::default()
            }],
            export: vec![endpoint("unreachable", "Connection refused")],
            buffer: [(
                "metrics".to_string(),
                BufferStatus {
                    bytes: 100,
                    limit_bytes: 100,
                    ..BufferStatus::default()
                },
            )]
            .into(),
            ..Status::default()
        };
        let drops = [("metrics".to_string(), 7)].into();
        let got = attention(&status, &drops);
        assert_eq!(got.len(), 3, "{got:#?}");
        assert!(got[0].problem.contains("7 data points dropped"), "{got:#?}");
        assert!(got[0].fix.contains("start the collector"), "{got:#?}");
        assert!(got[1].problem.contains("connection refused"));
        assert!(got[2].problem.starts_with("integration sql"));
        assert!(attention(&Status::default(), &BTreeMap::new()).is_empty());
    }
}
