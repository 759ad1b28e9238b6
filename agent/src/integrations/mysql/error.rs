//! Turns client errors into [`IntegrationError`]s whose kind is one of `connect`, `tls`, `auth`,
//! `permission`, `query`, `timeout`, `config`, and whose message names the instance and the fix.

use super::IntegrationError;
use std::io::ErrorKind;

/// What the agent was doing when the error happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Doing<'a> {
    /// Opening the connection to the server shown (a redacted DSN).
    Connect(&'a str),
    /// Running a query: its source and the grant that lets the agent run it.
    Query {
        /// What is read, e.g. `SHOW REPLICA STATUS`.
        source: &'a str,
        /// The statement that gives the missing privilege, `{user}` standing for the account.
        grant: &'a str,
    },
}

/// Why a call failed, as far as the error says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The server answered with an error number and message.
    Server(u16, String),
    /// The socket failed (refused, reset, timed out).
    Io(ErrorKind, String),
    /// The account uses an authentication plugin the client lacks.
    AuthPlugin(String),
    /// Anything else the client reports.
    Other(String),
}

impl Cause {
    /// What `error` says.
    pub fn of(error: &mysql::Error) -> Cause {
        use mysql::{DriverError, Error};
        match error {
            Error::MySqlError(e) => Cause::Server(e.code, e.message.clone()),
            Error::IoError(e) => Cause::Io(e.kind(), e.to_string()),
            // A read that timed out inside the packet codec (during the handshake, or a reply).
            Error::CodecError(c) => match std::error::Error::source(c)
                .and_then(|s| s.downcast_ref::<std::io::Error>())
            {
                Some(io) => Cause::Io(io.kind(), io.to_string()),
                None => Cause::Other(c.to_string()),
            },
            Error::DriverError(DriverError::UnknownAuthPlugin(p)) => Cause::AuthPlugin(p.clone()),
            Error::DriverError(DriverError::ConnectTimeout | DriverError::Timeout) => {
                Cause::Io(ErrorKind::TimedOut, error.to_string())
            }
            Error::DriverError(DriverError::CouldNotConnect(Some((m, _, kind)))) => {
                Cause::Io(*kind, m.clone())
            }
            other => Cause::Other(other.to_string()),
        }
    }
}

/// A TLS failure while connecting to `target`: `why` says what failed and what to change.
pub fn tls(instance: &str, target: &str, why: &str) -> IntegrationError {
    IntegrationError::new(
        "tls",
        format!("instance {instance}: cannot connect to {target}: {why}"),
    )
}

/// Explains `cause`, met by instance `instance` connecting as `user` while `doing`; `timeout`
/// is the per-query limit, named when it is exceeded.
pub fn explain(
    instance: &str,
    user: &str,
    doing: Doing<'_>,
    cause: Cause,
    timeout: std::time::Duration,
) -> IntegrationError {
    let e = |kind, message: String| {
        IntegrationError::new(kind, format!("instance {instance}: {message}"))
    };
    let (source, grant) = match doing {
        Doing::Connect(_) => ("connection", ""),
        Doing::Query { source, grant } => (source, grant),
    };
    let grant = grant.replace("{user}", &format!("'{user}'"));
    match (doing, cause) {
        (_, Cause::Io(ErrorKind::TimedOut | ErrorKind::WouldBlock, _)) => e(
            "timeout",
            format!(
                "no answer to the {source} within {timeout:?} (a quarter of the integration's timeout): check the server's load, or raise integrations.mysql.timeout"
            ),
        ),
        (Doing::Connect(target), Cause::Io(_, text) | Cause::Other(text)) => e(
            "connect",
            format!(
                "cannot connect to {target}: {text}: check that the server runs there and that bind_address, port and firewalls let the agent in"
            ),
        ),
        (Doing::Query { .. }, Cause::Io(_, text) | Cause::Other(text)) => e(
            "connect",
            format!("connection lost during the {source}: {text}; reconnecting on the next run"),
        ),
        (_, Cause::AuthPlugin(plugin)) => e(
            "auth",
            format!(
                "user {user} authenticates with the {plugin} plugin, which the agent does not support: ALTER USER '{user}' IDENTIFIED VIA mysql_native_password USING PASSWORD('...') (MariaDB) or IDENTIFIED WITH caching_sha2_password BY '...' (MySQL)"
            ),
        ),
        (_, Cause::Server(code, message)) => match code {
            // ER_ACCESS_DENIED_ERROR, ER_ACCESS_DENIED_NO_PASSWORD_ERROR
            1045 | 1698 => e(
                "auth",
                format!(
                    "{message}: check the user and password in the DSN, and that the account's host part matches the agent's address"
                ),
            ),
            // ER_HOST_NOT_PRIVILEGED
            1130 => e(
                "auth",
                format!(
                    "{message}: CREATE USER '{user}'@'<agent address>' for the address the agent connects from"
                ),
            ),
            // ER_BAD_DB_ERROR
            1049 => e("config", format!("{message}: fix the database in the DSN")),
            // ER_DBACCESS_DENIED_ERROR
            1044 => e(
                "permission",
                format!(
                    "{message}: leave the database out of the DSN, or GRANT SELECT ON that database TO '{user}'"
                ),
            ),
            // ER_CON_COUNT_ERROR, ER_TOO_MANY_USER_CONNECTIONS
            1040 | 1203 => e(
                "connect",
                format!("{message}: raise max_connections (or the account's MAX_USER_CONNECTIONS)"),
            ),
            // ER_HOST_IS_BLOCKED
            1129 => e(
                "connect",
                format!("{message}: run FLUSH HOSTS on the server and raise max_connect_errors"),
            ),
            // ER_SPECIFIC_ACCESS_DENIED_ERROR, ER_TABLEACCESS_DENIED_ERROR, ER_COLUMNACCESS_DENIED_ERROR
            1227 | 1142 | 1143 => e(
                "permission",
                format!("user {user} may not run the {source} ({message}): {grant}"),
            ),
            // ER_STATEMENT_TIMEOUT (MariaDB), ER_QUERY_TIMEOUT (MySQL)
            1969 | 3024 => e(
                "timeout",
                format!(
                    "the {source} was stopped by max_statement_time ({message}): raise it for user {user}"
                ),
            ),
            _ => match doing {
                Doing::Connect(target) => {
                    e("connect", format!("cannot connect to {target}: {message}"))
                }
                Doing::Query { .. } => e("query", format!("the {source} failed: {message}")),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn every_class_names_the_instance_and_the_fix() {
        let connect = Doing::Connect("dozor@db1:3306/");
        let replica = Doing::Query {
            source: "SHOW REPLICA STATUS",
            grant: "GRANT SLAVE MONITOR ON *.* TO {user}",
        };
        let server = |code, m: &str| Cause::Server(code, m.to_string());
        let t = Duration::from_millis(2500);
        let cases = [
            (
                explain(
                    "mes",
                    "dozor",
                    connect,
                    Cause::Io(
                        ErrorKind::ConnectionRefused,
                        "Connection refused (os error 111)".into(),
                    ),
                    t,
                ),
                "connect",
                "cannot connect to dozor@db1:3306/: Connection refused (os error 111): check that the server runs there",
            ),
            (
                explain(
                    "mes",
                    "dozor",
                    connect,
                    server(
                        1045,
                        "Access denied for user 'dozor'@'localhost' (using password: YES)",
                    ),
                    t,
                ),
                "auth",
                "check the user and password in the DSN",
            ),
            (
                explain(
                    "mes",
                    "dozor",
                    connect,
                    Cause::AuthPlugin("unix_socket".into()),
                    t,
                ),
                "auth",
                "unix_socket plugin, which the agent does not support",
            ),
            (
                explain(
                    "mes",
                    "dozor",
                    connect,
                    server(1049, "Unknown database 'shp'"),
                    t,
                ),
                "config",
                "fix the database in the DSN",
            ),
            (
                explain(
                    "mes",
                    "dozor",
                    replica,
                    server(
                        1227,
                        "Access denied; you need (at least one of) the SUPER, SLAVE MONITOR privilege(s) for this operation",
                    ),
                    t,
                ),
                "permission",
                "user dozor may not run the SHOW REPLICA STATUS (Access denied; you need (at least one of) the SUPER, SLAVE MONITOR privilege(s) for this operation): GRANT SLAVE MONITOR ON *.* TO 'dozor'",
            ),
            (
                explain(
                    "mes",
                    "dozor",
                    replica,
                    Cause::Io(
                        ErrorKind::WouldBlock,
                        "Resource temporarily unavailable".into(),
                    ),
                    t,
                ),
                "timeout",
                "no answer to the SHOW REPLICA STATUS within 2.5s",
            ),
            (
                explain(
                    "mes",
                    "dozor",
                    replica,
                    Cause::Io(ErrorKind::BrokenPipe, "broken pipe".into()),
                    t,
                ),
                "connect",
                "reconnecting on the next run",
            ),
            (
                explain(
                    "mes",
                    "dozor",
                    replica,
                    server(1064, "You have an error in your SQL syntax"),
                    t,
                ),
                "query",
                "the SHOW REPLICA STATUS failed: You have an error",
            ),
        ];
        for (error, kind, fix) in cases {
            assert_eq!(error.kind, kind, "{error}");
            assert!(error.message.starts_with("instance mes: "), "{error}");
            assert!(error.message.contains(fix), "{error} lacks {fix}");
        }
    }
}
