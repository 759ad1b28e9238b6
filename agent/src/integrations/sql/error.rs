//! Turns client errors and result mismatches into [`IntegrationError`]s whose kind is one of
//! `connect`, `tls`, `auth`, `config`, `permission`, `syntax`, `query`, `read_only`, `timeout`,
//! `column`, `value`, and whose message names the query and the fix.

use super::rows::Mismatch;
use crate::integrations::IntegrationError;
use postgres::error::SqlState;
use std::time::Duration;

/// What a server or client said, reduced to what the explanation needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// PostgreSQL answered with a SQLSTATE.
    Postgres(SqlState, String),
    /// MySQL or MariaDB answered with an error number.
    Mysql(u16, String),
    /// No answer: the connection failed, broke or timed out (`true` when it timed out).
    Network(bool, String),
    /// TLS failed: what failed and what to change.
    Tls(String),
}

impl Cause {
    /// True when the connection cannot be used after this: no answer, or the server ended the
    /// session (SQLSTATE class 08, connection exception; 57P01-57P03, the backend was
    /// terminated or the server is shutting down). The server's FATAL can arrive before the
    /// client sees the socket close, so the client may not know yet.
    pub fn ends_connection(&self) -> bool {
        match self {
            Cause::Network(..) => true,
            Cause::Postgres(code, _) => {
                let code = code.code();
                code.starts_with("08") || ["57P01", "57P02", "57P03"].contains(&code)
            }
            Cause::Mysql(..) | Cause::Tls(_) => false,
        }
    }

    /// What a PostgreSQL client error says.
    pub fn postgres(e: &postgres::Error) -> Cause {
        if let Some(db) = e.as_db_error() {
            return Cause::Postgres(db.code().clone(), db.message().to_string());
        }
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        let timed_out = text.contains("timed out") || text.contains("timeout");
        Cause::Network(timed_out, text)
    }

    /// What a MySQL client error says.
    pub fn mysql(e: &mysql::Error) -> Cause {
        use mysql::{DriverError, Error};
        match e {
            Error::MySqlError(e) => Cause::Mysql(e.code, e.message.clone()),
            Error::IoError(io) => Cause::Network(
                matches!(
                    io.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ),
                io.to_string(),
            ),
            Error::DriverError(DriverError::ConnectTimeout | DriverError::Timeout) => {
                Cause::Network(true, e.to_string())
            }
            other => {
                let text = other.to_string();
                Cause::Network(text.contains("timed out"), text)
            }
        }
    }
}

/// Explains `cause` met by query `query`, connecting as `user` to `target` (no password);
/// `connecting` when the connection or its session settings failed; `timeout` is the
/// statement timeout the server was given.
pub fn explain(
    query: &str,
    user: &str,
    target: &str,
    connecting: bool,
    cause: Cause,
    timeout: Duration,
) -> IntegrationError {
    let e =
        |kind, message: String| IntegrationError::new(kind, format!("query {query}: {message}"));
    let (kind, message) = match cause {
        Cause::Network(true, text) => (
            "timeout",
            format!(
                "no answer from {target} within {timeout:?} ({text}): make the query cheaper, raise its timeout, or raise min_interval"
            ),
        ),
        Cause::Network(false, text) if connecting => (
            "connect",
            format!(
                "cannot connect to {target}: {text}: check that the server runs there and the DSN's host, port and user"
            ),
        ),
        Cause::Network(false, text) => (
            "connect",
            format!("connection to {target} lost: {text}; reconnecting on the next run"),
        ),
        Cause::Tls(why) => ("tls", format!("cannot connect to {target}: {why}")),
        Cause::Postgres(code, m) => postgres_class(&code, m, user, target, timeout),
        Cause::Mysql(code, m) => mysql_class(code, m, user, target, timeout),
    };
    e(kind, message)
}

fn postgres_class(
    code: &SqlState,
    m: String,
    user: &str,
    target: &str,
    timeout: Duration,
) -> (&'static str, String) {
    if *code == SqlState::INVALID_PASSWORD || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
    {
        return (
            "auth",
            format!("{m}: check the role and password in the DSN, and pg_hba.conf"),
        );
    }
    if *code == SqlState::ADMIN_SHUTDOWN
        || *code == SqlState::CRASH_SHUTDOWN
        || *code == SqlState::CANNOT_CONNECT_NOW
    {
        return (
            "connect",
            format!("{target} closed the connection ({m}); reconnecting on the next run"),
        );
    }
    if *code == SqlState::INVALID_CATALOG_NAME {
        return ("config", format!("{m}: fix dbname in the DSN ({target})"));
    }
    if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        return (
            "permission",
            format!("{m}: GRANT SELECT ON the tables the query reads TO {user}"),
        );
    }
    if *code == SqlState::READ_ONLY_SQL_TRANSACTION {
        return ("read_only", read_only(&m));
    }
    if *code == SqlState::QUERY_CANCELED {
        return ("timeout", stopped(&m, timeout));
    }
    if *code == SqlState::SYNTAX_ERROR {
        return ("syntax", format!("{m}: fix the query's sql"));
    }
    if *code == SqlState::UNDEFINED_TABLE
        || *code == SqlState::UNDEFINED_COLUMN
        || *code == SqlState::UNDEFINED_FUNCTION
    {
        return (
            "query",
            format!("{m}: fix the name in the query's sql, or the DSN's dbname"),
        );
    }
    ("query", format!("the server refused the query: {m}"))
}

fn mysql_class(
    code: u16,
    m: String,
    user: &str,
    target: &str,
    timeout: Duration,
) -> (&'static str, String) {
    match code {
        // ER_ACCESS_DENIED_ERROR, ER_ACCESS_DENIED_NO_PASSWORD_ERROR, ER_HOST_NOT_PRIVILEGED
        1045 | 1698 | 1130 => (
            "auth",
            format!("{m}: check the user and password in the DSN"),
        ),
        // ER_BAD_DB_ERROR
        1049 => (
            "config",
            format!("{m}: fix the database in the DSN ({target})"),
        ),
        // ER_DBACCESS_DENIED_ERROR, ER_TABLEACCESS_DENIED_ERROR, ER_COLUMNACCESS_DENIED_ERROR,
        // ER_SPECIFIC_ACCESS_DENIED_ERROR
        1044 | 1142 | 1143 | 1227 => (
            "permission",
            format!("{m}: GRANT SELECT ON the tables the query reads TO '{user}'"),
        ),
        // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
        1792 => ("read_only", read_only(&m)),
        // ER_STATEMENT_TIMEOUT (MariaDB), ER_QUERY_TIMEOUT (MySQL), ER_QUERY_INTERRUPTED
        1969 | 3024 | 1317 => ("timeout", stopped(&m, timeout)),
        // ER_PARSE_ERROR
        1064 => ("syntax", format!("{m}: fix the query's sql")),
        // ER_NO_SUCH_TABLE, ER_BAD_FIELD_ERROR, ER_SP_DOES_NOT_EXIST
        1146 | 1054 | 1305 => (
            "query",
            format!("{m}: fix the name in the query's sql, or the DSN's database"),
        ),
        _ => ("query", format!("the server refused the query: {m}")),
    }
}

fn read_only(m: &str) -> String {
    format!("{m}: the session is read-only; a business query may only read (SELECT)")
}

fn stopped(m: &str, timeout: Duration) -> String {
    format!(
        "{m}: the server stopped it at the statement timeout ({timeout:?}, 80% of the query's timeout): make the query cheaper, raise its timeout, or raise min_interval"
    )
}

/// Explains a result that does not fit the configured metrics.
pub fn mismatch(query: &str, m: Mismatch) -> IntegrationError {
    match m {
        Mismatch::Column(i, column, columns) => IntegrationError::new(
            "column",
            format!(
                "query {query}: metrics[{i}]: column \"{column}\" is not in the result (it has {}): fix the column name in the metric, or alias the column in the sql (... AS {column})",
                columns.join(", ")
            ),
        ),
        Mismatch::Value(i, column, text) => {
            let shown: String = text.chars().take(40).collect();
            IntegrationError::new(
                "value",
                format!(
                    "query {query}: metrics[{i}].value_column: column \"{column}\" holds \"{shown}\", not a number: name a numeric column, or convert it in the sql"
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_names_the_query_and_the_fix() {
        let t = Duration::from_secs(4);
        let pg = |code: SqlState, m: &str| Cause::Postgres(code, m.into());
        let my = |code: u16, m: &str| Cause::Mysql(code, m.into());
        let cases = [
            (
                Cause::Network(false, "Connection refused".into()),
                true,
                "connect",
                "cannot connect to db:5432",
            ),
            (
                Cause::Network(true, "timed out".into()),
                false,
                "timeout",
                "raise its timeout",
            ),
            (
                pg(SqlState::INVALID_PASSWORD, "password authentication failed"),
                true,
                "auth",
                "check the role and password",
            ),
            (
                pg(
                    SqlState::INSUFFICIENT_PRIVILEGE,
                    "permission denied for table orders",
                ),
                false,
                "permission",
                "GRANT SELECT ON the tables the query reads TO dozor",
            ),
            (
                pg(SqlState::SYNTAX_ERROR, "syntax error at or near \"FORM\""),
                false,
                "syntax",
                "fix the query's sql",
            ),
            (
                pg(
                    SqlState::READ_ONLY_SQL_TRANSACTION,
                    "cannot execute INSERT in a read-only transaction",
                ),
                false,
                "read_only",
                "may only read",
            ),
            (
                pg(
                    SqlState::QUERY_CANCELED,
                    "canceling statement due to statement timeout",
                ),
                false,
                "timeout",
                "80% of the query's timeout",
            ),
            (
                pg(
                    SqlState::UNDEFINED_TABLE,
                    "relation \"ordres\" does not exist",
                ),
                false,
                "query",
                "fix the name",
            ),
            (
                my(1142, "SELECT command denied"),
                false,
                "permission",
                "TO 'dozor'",
            ),
            (
                my(1064, "You have an error in your SQL syntax"),
                false,
                "syntax",
                "fix the query's sql",
            ),
            (
                my(1792, "Cannot execute statement in a READ ONLY transaction"),
                false,
                "read_only",
                "may only read",
            ),
            (
                my(
                    1969,
                    "Query execution was interrupted (max_statement_time exceeded)",
                ),
                false,
                "timeout",
                "statement timeout",
            ),
            (
                my(1049, "Unknown database 'mez'"),
                true,
                "config",
                "fix the database in the DSN",
            ),
        ];
        for (cause, connecting, kind, fix) in cases {
            let e = explain("orders", "dozor", "db:5432", connecting, cause, t);
            assert_eq!(e.kind, kind, "{e}");
            assert!(e.message.starts_with("query orders: "), "{e}");
            assert!(e.message.contains(fix), "{e} lacks {fix}");
        }
        let e = mismatch(
            "orders",
            Mismatch::Column(1, "n".into(), vec!["status".into(), "count".into()]),
        );
        assert_eq!(e.kind, "column");
        assert!(
            e.message
                .contains("metrics[1]: column \"n\" is not in the result (it has status, count)"),
            "{e}"
        );
        let e = mismatch("orders", Mismatch::Value(0, "status".into(), "open".into()));
        assert_eq!(e.kind, "value");
        assert!(e.message.contains("holds \"open\", not a number"), "{e}");
    }
}
