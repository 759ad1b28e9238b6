//! The connection string of every database integration: one type, whose `Debug` and
//! [`Dsn::redacted`] never show the password, parsed as PostgreSQL or MySQL by what it says
//! ([`Dsn::target`]) or as the kind an integration needs ([`Dsn::postgres`], [`Dsn::mysql`]).

use super::tls::Settings;
use dozor_config::At;
use serde::Deserialize;
use std::fmt;

/// A connection string from the configuration.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(transparent)]
pub struct Dsn(pub String);

/// A parsed [`Dsn`].
pub enum Target {
    /// A PostgreSQL server.
    #[cfg(feature = "pg")]
    Postgres(Box<super::pg::Dsn>),
    /// A MySQL or MariaDB server.
    #[cfg(feature = "my")]
    Mysql(Box<super::my::Dsn>),
}

impl Target {
    /// The TLS settings.
    pub fn tls(&self) -> &Settings {
        match self {
            #[cfg(feature = "pg")]
            Target::Postgres(d) => &d.tls,
            #[cfg(feature = "my")]
            Target::Mysql(d) => &d.tls,
        }
    }
}

impl Dsn {
    /// True for a `mysql://` or `mariadb://` URL.
    pub fn is_mysql(&self) -> bool {
        let text = self.0.trim();
        text.starts_with("mysql://") || text.starts_with("mariadb://")
    }

    /// Parses it as the kind of server it names: a `mysql://` or `mariadb://` URL, else
    /// PostgreSQL (a URL or `key=value` pairs). The error never contains the password.
    pub fn target(&self) -> Result<Target, String> {
        let text = self.0.trim();
        if self.is_mysql() {
            #[cfg(feature = "my")]
            return super::my::parse(text).map(|d| Target::Mysql(Box::new(d)));
            #[cfg(not(feature = "my"))]
            return Err("this dozor-agent was built without MySQL support".into());
        }
        if text.contains("://")
            && !(text.starts_with("postgres://") || text.starts_with("postgresql://"))
        {
            return Err(
                "unknown scheme: use postgresql://, mysql://, mariadb:// or host=... key/value"
                    .into(),
            );
        }
        #[cfg(feature = "pg")]
        return super::pg::parse(text).map(|d| Target::Postgres(Box::new(d)));
        #[cfg(not(feature = "pg"))]
        Err("this dozor-agent was built without PostgreSQL support".into())
    }

    /// Parses it as a PostgreSQL connection string.
    #[cfg(feature = "pg")]
    pub fn postgres(&self) -> Result<super::pg::Dsn, String> {
        super::pg::parse(&self.0)
    }

    /// Parses it as a MySQL or MariaDB URL.
    #[cfg(feature = "my")]
    pub fn mysql(&self) -> Result<super::my::Dsn, String> {
        super::my::parse(&self.0)
    }

    /// Where it points, without the password: `host=db1 port=5432 user=dozor dbname=shop` or
    /// `dozor@db2:3306/mes`.
    pub fn redacted(&self) -> String {
        match self.target() {
            #[cfg(feature = "pg")]
            Ok(Target::Postgres(d)) => super::pg::describe(&d.config, &d.tls),
            #[cfg(feature = "my")]
            Ok(Target::Mysql(d)) => super::my::describe(&d.opts, &d.tls),
            Err(_) => "<invalid DSN>".into(),
        }
    }
}

impl fmt::Debug for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dsn({:?})", self.redacted())
    }
}

/// Reports at `key` a DSN that `parse` refuses, or whose TLS files cannot be read; the parsed
/// value when it parses. Messages never repeat the DSN, which may hold a password.
pub fn check<T>(
    at: &mut At<'_>,
    key: &str,
    parse: Result<T, String>,
    tls: impl Fn(&T) -> &Settings,
) -> Option<T> {
    match parse {
        Err(why) => {
            at.error(key, format!("invalid DSN: {why}"));
            None
        }
        Ok(d) => {
            if let Err(why) = tls(&d).check_files() {
                at.error(key, why);
            }
            Some(d)
        }
    }
}

#[cfg(all(test, feature = "pg", feature = "my"))]
mod tests {
    use super::*;

    #[test]
    fn dsn_kinds_and_redaction() {
        let cases = [
            (
                "postgres://dozor:s3cret@db1:5433/shop",
                "host=db1 port=5433 user=dozor dbname=shop",
            ),
            (
                "host=db1 user=dozor password=s3cret dbname=shop",
                "host=db1 port=5432 user=dozor dbname=shop",
            ),
            ("mysql://dozor:s3cret@db2:3307/mes", "dozor@db2:3307/mes"),
            ("mariadb://dozor:s3cret@db2/mes", "dozor@db2:3306/mes"),
        ];
        for (dsn, shown) in cases {
            let d = Dsn(dsn.into());
            assert_eq!(d.redacted(), shown);
            assert!(!format!("{d:?}").contains("s3cret"));
        }
        assert!(
            Dsn("mysql://a:s3cret@h:port/x".into())
                .target()
                .is_err_and(|e| !e.contains("s3cret"))
        );
    }
}
