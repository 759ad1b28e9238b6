//! The connection string of a query: which server kind it names, and how it is shown without
//! its password.

use crate::integrations::db;
use serde::Deserialize;
use std::fmt;

/// A connection string for either server; `Debug` and [`Dsn::redacted`] never show its password.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Dsn(pub String);

/// A parsed [`Dsn`].
pub enum Target {
    /// A PostgreSQL server.
    Postgres(Box<db::pg::Dsn>),
    /// A MySQL or MariaDB server.
    Mysql(Box<db::my::Dsn>),
}

impl Target {
    /// The TLS settings.
    pub fn tls(&self) -> &db::tls::Settings {
        match self {
            Target::Postgres(d) => &d.tls,
            Target::Mysql(d) => &d.tls,
        }
    }
}

impl Dsn {
    /// Parses it; the error never contains the password.
    pub fn parse(&self) -> Result<Target, String> {
        let text = self.0.trim();
        if text.starts_with("mariadb://") || text.starts_with("mysql://") {
            return db::my::parse(text).map(|d| Target::Mysql(Box::new(d)));
        }
        if text.contains("://")
            && !(text.starts_with("postgres://") || text.starts_with("postgresql://"))
        {
            return Err(
                "unknown scheme: use postgresql://, mysql://, mariadb:// or host=... key/value"
                    .into(),
            );
        }
        db::pg::parse(text).map(|d| Target::Postgres(Box::new(d)))
    }

    /// Where it points, without the password.
    pub fn redacted(&self) -> String {
        match self.parse() {
            Ok(Target::Postgres(d)) => db::pg::describe(&d.config, &d.tls),
            Ok(Target::Mysql(d)) => db::my::describe(&d.opts, &d.tls),
            Err(_) => "<invalid DSN>".into(),
        }
    }
}

impl fmt::Debug for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dsn({:?})", self.redacted())
    }
}

#[cfg(test)]
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
                .parse()
                .is_err_and(|e| !e.contains("s3cret"))
        );
    }
}
