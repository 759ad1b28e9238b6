//! Turns client errors into [`IntegrationError`]s whose kind is one of `connect`, `auth`,
//! `permission`, `timeout`, `query`, and whose message names the instance and the fix.

use crate::integrations::IntegrationError;
use redis::{ErrorKind, RedisError, ServerErrorKind};
use std::time::Duration;

/// Explains `e`, met by instance `instance` talking to `target` (`host:port`) while running
/// `doing` (`INFO`, `XINFO GROUPS orders`, ...); `timeout` is the per-call limit.
pub fn explain(
    instance: &str,
    target: &str,
    doing: &str,
    e: &RedisError,
    timeout: Duration,
) -> IntegrationError {
    let code = e.code().unwrap_or("");
    let detail = e.detail().unwrap_or("");
    classify(instance, target, doing, Class::of(e), code, detail, timeout)
}

/// The few facts about an error the message depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Refused,
    Timeout,
    Io,
    Auth,
    NoPerm,
    Other,
}

impl Class {
    fn of(e: &RedisError) -> Class {
        if e.is_timeout() {
            Class::Timeout
        } else if e.is_connection_refusal() {
            Class::Refused
        } else if e.is_io_error() || e.is_connection_dropped() {
            Class::Io
        } else if e.kind() == ErrorKind::AuthenticationFailed
            || matches!(e.code(), Some("WRONGPASS" | "NOAUTH"))
        {
            Class::Auth
        } else if e.kind() == ErrorKind::Server(ServerErrorKind::NoPerm)
            || e.code() == Some("NOPERM")
        {
            Class::NoPerm
        } else {
            Class::Other
        }
    }
}

/// The message for an error of class `class`; pure, so each is tested.
pub fn classify(
    instance: &str,
    target: &str,
    doing: &str,
    class: Class,
    code: &str,
    detail: &str,
    timeout: Duration,
) -> IntegrationError {
    let e = |kind, m: String| IntegrationError::new(kind, format!("instance {instance}: {m}"));
    match class {
        Class::Timeout => e(
            "timeout",
            format!(
                "no answer from {target} to {doing} within {timeout:?} (a quarter of the integration's timeout): check the server's load and that {target} is Redis, or raise integrations.redis.timeout"
            ),
        ),
        Class::Refused => e(
            "connect",
            format!(
                "cannot connect to {target}: connection refused: check that redis-server runs there and that its bind and port let the agent in"
            ),
        ),
        Class::Io => e(
            "connect",
            format!(
                "connection to {target} failed during {doing} ({code} {detail}): reconnecting on the next run; check that {target} is Redis"
            ),
        ),
        Class::Auth if code == "NOAUTH" || detail.contains("NOAUTH") => e(
            "auth",
            format!(
                "{target} requires a password (NOAUTH): set password (and username for an ACL user) for the instance, e.g. password: ${{REDIS_PASSWORD}}"
            ),
        ),
        Class::Auth => e(
            "auth",
            format!(
                "{target} refused the credentials ({code} {detail}): check username and password (requirepass, or the ACL user's)"
            ),
        ),
        Class::NoPerm => e(
            "permission",
            format!(
                "the user may not run {doing} ({detail}): ACL SETUSER <user> +ping +info +type +scan +llen +xlen +xinfo +xrange and the keys (~pattern) it reads"
            ),
        ),
        Class::Other => e("query", format!("{doing} failed: {code} {detail}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_names_the_instance_and_the_fix() {
        let t = Duration::from_secs(2);
        let cases = [
            (Class::Timeout, "", "", "timeout", "within 2s"),
            (
                Class::Refused,
                "",
                "",
                "connect",
                "check that redis-server runs",
            ),
            (
                Class::Auth,
                "WRONGPASS",
                "invalid username-password pair",
                "auth",
                "check username and password",
            ),
            (
                Class::Auth,
                "NOAUTH",
                "Authentication required.",
                "auth",
                "requires a password (NOAUTH)",
            ),
            (
                Class::NoPerm,
                "NOPERM",
                "this user has no permissions to run the 'xinfo' command",
                "permission",
                "ACL SETUSER",
            ),
            (
                Class::Other,
                "WRONGTYPE",
                "Operation against a key",
                "query",
                "LLEN q failed: WRONGTYPE",
            ),
        ];
        for (class, code, detail, kind, fix) in cases {
            let err = classify("cache", "127.0.0.1:6379", "LLEN q", class, code, detail, t);
            assert_eq!(err.kind, kind, "{err}");
            assert!(err.message.starts_with("instance cache: "), "{err}");
            assert!(err.message.contains(fix), "{err} lacks {fix}");
        }
    }
}
