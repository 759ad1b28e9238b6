//! Turns client errors into [`IntegrationError`]s whose kind is one of `connect`, `tls`, `auth`,
//! `permission`, `query`, `config`, and whose message names the instance and the fix.

use super::IntegrationError;
use postgres::error::SqlState;

/// What the agent was doing when the error happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Doing<'a> {
    /// Opening the connection to the server shown.
    Connect(&'a str),
    /// Running the named source's query.
    Query(&'a str),
}

/// Classifies `error`, met by instance `instance` as role `role` while `doing`.
pub fn classify(
    instance: &str,
    role: &str,
    doing: Doing<'_>,
    error: &postgres::Error,
) -> IntegrationError {
    let db = error
        .as_db_error()
        .map(|d| (d.code().clone(), d.message().to_string()));
    // The client's Display names the kind only ("error connecting to server"); the cause
    // ("Connection refused", "password missing") is its source.
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    explain(instance, role, doing, db, &text)
}

/// The pure part of [`classify`]: `db` is the server's SQLSTATE and message when the server
/// answered, `text` the client's description otherwise.
pub fn explain(
    instance: &str,
    role: &str,
    doing: Doing<'_>,
    db: Option<(SqlState, String)>,
    text: &str,
) -> IntegrationError {
    let e = |kind, message: String| {
        IntegrationError::new(kind, format!("instance {instance}: {message}"))
    };
    let Some((code, message)) = db else {
        return match doing {
            Doing::Connect(_) if text.contains("password missing") => e(
                "auth",
                format!(
                    "the server asks role {role} for a password and the DSN has none: add password=${{PG_PASSWORD}} to the DSN"
                ),
            ),
            Doing::Connect(target) => e(
                "connect",
                format!(
                    "cannot connect to {target}: {text}: check that PostgreSQL runs there and that listen_addresses, port and firewalls let the agent in"
                ),
            ),
            Doing::Query(source) => e(
                "connect",
                format!(
                    "connection lost during the {source} query: {text}; reconnecting on the next run"
                ),
            ),
        };
    };
    if code == SqlState::INVALID_PASSWORD || code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
        return e(
            "auth",
            format!(
                "{message}: check the role and password in the DSN, and that pg_hba.conf has a line for the agent's address, database and role"
            ),
        );
    }
    if code == SqlState::INVALID_CATALOG_NAME {
        return e("config", format!("{message}: fix dbname in the DSN"));
    }
    if code == SqlState::TOO_MANY_CONNECTIONS {
        return e(
            "connect",
            format!(
                "{message}: raise max_connections, or give the monitoring role a reserved slot (ALTER ROLE {role} CONNECTION LIMIT ..., superuser_reserved_connections)"
            ),
        );
    }
    if code == SqlState::INSUFFICIENT_PRIVILEGE {
        return e(
            "permission",
            format!("role {role} lacks a privilege ({message}): GRANT pg_monitor TO {role}"),
        );
    }
    if code == SqlState::QUERY_CANCELED {
        let source = match doing {
            Doing::Query(s) => s,
            Doing::Connect(_) => "connection",
        };
        return e(
            "query",
            format!(
                "the {source} query was cancelled ({message}): it took longer than statement_timeout, 80% of the integration's timeout; raise integrations.postgresql.timeout"
            ),
        );
    }
    match doing {
        Doing::Connect(target) => e("connect", format!("cannot connect to {target}: {message}")),
        Doing::Query(source) => e("query", format!("the {source} query failed: {message}")),
    }
}

/// A TLS failure while connecting to `target`: `why` says what failed and what to change.
pub fn tls(instance: &str, target: &str, why: &str) -> IntegrationError {
    IntegrationError::new(
        "tls",
        format!("instance {instance}: cannot connect to {target}: {why}"),
    )
}

/// The error for a role without `pg_monitor`: without it PostgreSQL hides other roles'
/// sessions, replication lag and statements, so the numbers would be silently wrong.
pub fn lacks_pg_monitor(instance: &str, role: &str) -> IntegrationError {
    IntegrationError::new(
        "permission",
        format!(
            "instance {instance}: role {role} lacks pg_monitor, so other roles' sessions, replication and statements are hidden: GRANT pg_monitor TO {role}"
        ),
    )
}

/// True when the error means `pg_stat_statements` cannot be read: not created in this
/// database (undefined table or function) or not preloaded (object not in prerequisite state).
pub fn statements_missing(error: &postgres::Error) -> bool {
    matches!(
        error.code(),
        Some(c) if *c == SqlState::UNDEFINED_TABLE
            || *c == SqlState::UNDEFINED_FUNCTION
            || *c == SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_names_the_instance_and_the_fix() {
        let connect = Doing::Connect("host=db1 port=5432 user=dozor");
        let query = Doing::Query("pg_stat_activity");
        let db = |code: SqlState, m: &str| Some((code, m.to_string()));
        let cases: Vec<(IntegrationError, &str, &str)> = vec![
            (
                explain(
                    "shop",
                    "dozor",
                    connect,
                    None,
                    "error connecting to server: Connection refused (os error 111)",
                ),
                "connect",
                "cannot connect to host=db1 port=5432 user=dozor: error connecting to server: Connection refused",
            ),
            (
                explain(
                    "shop",
                    "dozor",
                    connect,
                    None,
                    "invalid configuration: password missing",
                ),
                "auth",
                "add password=${PG_PASSWORD} to the DSN",
            ),
            (
                explain(
                    "shop",
                    "dozor",
                    connect,
                    db(
                        SqlState::INVALID_PASSWORD,
                        "password authentication failed for user \"dozor\"",
                    ),
                    "",
                ),
                "auth",
                "password authentication failed for user \"dozor\": check the role and password in the DSN",
            ),
            (
                explain(
                    "shop",
                    "dozor",
                    connect,
                    db(
                        SqlState::INVALID_CATALOG_NAME,
                        "database \"shp\" does not exist",
                    ),
                    "",
                ),
                "config",
                "fix dbname in the DSN",
            ),
            (
                explain(
                    "shop",
                    "dozor",
                    query,
                    db(
                        SqlState::INSUFFICIENT_PRIVILEGE,
                        "permission denied for table t",
                    ),
                    "",
                ),
                "permission",
                "GRANT pg_monitor TO dozor",
            ),
            (
                explain(
                    "shop",
                    "dozor",
                    query,
                    db(
                        SqlState::QUERY_CANCELED,
                        "canceling statement due to statement timeout",
                    ),
                    "",
                ),
                "query",
                "raise integrations.postgresql.timeout",
            ),
            (
                explain(
                    "shop",
                    "dozor",
                    query,
                    db(SqlState::SYNTAX_ERROR, "syntax error"),
                    "",
                ),
                "query",
                "the pg_stat_activity query failed: syntax error",
            ),
            (
                explain("shop", "dozor", query, None, "connection closed"),
                "connect",
                "reconnecting on the next run",
            ),
            (
                lacks_pg_monitor("shop", "dozor"),
                "permission",
                "GRANT pg_monitor TO dozor",
            ),
        ];
        for (error, kind, fix) in cases {
            assert_eq!(error.kind, kind, "{error}");
            assert!(error.message.starts_with("instance shop: "), "{error}");
            assert!(error.message.contains(fix), "{error} lacks {fix}");
        }
    }
}
