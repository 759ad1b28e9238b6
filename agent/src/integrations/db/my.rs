//! MySQL and MariaDB connection URLs and connections, with TLS spelled as MySQL's own client
//! and MySQL Shell URIs spell it: `ssl-mode` (`DISABLED`, `PREFERRED` the default, `REQUIRED`,
//! `VERIFY_CA`, `VERIFY_IDENTITY`), `ssl-ca`, `ssl-cert`, `ssl-key`. The client crate's own TLS
//! parameters (`root_cert_path`, `danger_*`, ...) are refused, so there is one way to say it.

use super::Table;
use super::tls::{MYSQL, Mode, Roots, Settings};
use mysql::prelude::Queryable;
use mysql::{ClientIdentity, Conn, Opts, OptsBuilder, SslOpts, Value};

/// A parsed `mysql://` or `mariadb://` URL.
#[derive(Clone)]
pub struct Dsn {
    /// The client options, without TLS (see [`Connector`]).
    pub opts: Opts,
    /// The TLS parameters.
    pub tls: Settings,
}

impl std::fmt::Debug for Dsn {
    /// Without the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dsn({:?})", describe(&self.opts, &self.tls))
    }
}

const TLS_KEYS: [&str; 4] = ["ssl-mode", "ssl-ca", "ssl-cert", "ssl-key"];

const CRATE_TLS_KEYS: [&str; 6] = [
    "root_cert_path",
    "cert_chain_path",
    "priv_key_path",
    "danger_skip_domain_validation",
    "danger_accept_invalid_certs",
    "cipher_suites",
];

/// Parses a `mysql://` or `mariadb://` URL; the error names the parameter, never a value.
pub fn parse(text: &str) -> Result<Dsn, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty".into());
    }
    let url = match text.strip_prefix("mariadb://") {
        Some(rest) => format!("mysql://{rest}"),
        None if text.starts_with("mysql://") => text.to_string(),
        None => {
            return Err(
                "must start with mysql:// or mariadb:// (mysql://user:password@host:3306/database)"
                    .into(),
            );
        }
    };
    let mut parsed = url::Url::parse(&url).map_err(|e| e.to_string())?;
    let mut params = Vec::new();
    let mut kept = Vec::new();
    for (k, v) in parsed.query_pairs() {
        if CRATE_TLS_KEYS.contains(&k.as_ref()) {
            return Err(format!(
                "unknown parameter {k}: TLS is set with ssl-mode, ssl-ca, ssl-cert and ssl-key"
            ));
        }
        if TLS_KEYS.contains(&k.as_ref()) {
            params.push((k.into_owned(), v.into_owned()));
        } else {
            kept.push((k.into_owned(), v.into_owned()));
        }
    }
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    let opts = Opts::from_url(parsed.as_str()).map_err(|e| match e {
        mysql::UrlError::ParseError(e) => e.to_string(),
        mysql::UrlError::UnknownParameter(p) => format!("unknown parameter {p}"),
        mysql::UrlError::InvalidValue(param, _) => format!("invalid value of {param}"),
        other => other.to_string(),
    })?;
    let get = |key: &str| {
        params
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let roots = get("ssl-ca").map_or(Roots::None, |p| Roots::File(p.into()));
    let mode = match get("ssl-mode").map(str::to_ascii_uppercase).as_deref() {
        None | Some("PREFERRED") => Mode::Prefer,
        Some("DISABLED") => Mode::Disable,
        Some("REQUIRED") => Mode::Require,
        Some("VERIFY_CA") => Mode::VerifyCa,
        Some("VERIFY_IDENTITY") => Mode::VerifyFull,
        Some(_) => {
            return Err("invalid value of ssl-mode: use DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY".into());
        }
    };
    let identity = MYSQL.identity(get("ssl-cert"), get("ssl-key"))?;
    Ok(Dsn {
        opts,
        tls: Settings {
            mode,
            roots,
            identity,
            dialect: &MYSQL,
        },
    })
}

/// Options shown without the password: `user@host:port/database` or `user@unix:/path/database`,
/// with `?ssl-mode=...` when it is not `PREFERRED`.
pub fn describe(o: &Opts, tls: &Settings) -> String {
    let user = o.get_user().unwrap_or("");
    let at = match o.get_socket() {
        Some(socket) => format!("unix:{socket}"),
        None => format!("{}:{}", o.get_ip_or_hostname(), o.get_tcp_port()),
    };
    let db = o.get_db_name().unwrap_or("");
    let mode = if tls.mode == Mode::Prefer {
        String::new()
    } else {
        format!("?{}", tls.shown(tls.mode))
    };
    format!("{user}@{at}/{db}{mode}")
}

/// Opens connections with the TLS of a DSN. `PREFERRED` asks for TLS; a server that does not
/// offer it is remembered, so later connections go plain at once instead of being turned away
/// (each refusal counts as an aborted connect on the server).
pub struct Connector {
    plain: Opts,
    secure: Opts,
    /// The TLS settings, for messages.
    pub tls: Settings,
    no_tls_offered: bool,
}

impl Connector {
    /// A connector for `opts` (the caller's timeouts and session settings applied) and `tls`.
    pub fn new(opts: OptsBuilder, tls: &Settings) -> Connector {
        let mut ssl = SslOpts::default()
            .with_danger_accept_invalid_certs(!tls.checks_chain())
            .with_danger_skip_domain_validation(tls.mode != Mode::VerifyFull);
        if let Roots::File(path) = &tls.roots {
            ssl = ssl.with_root_cert_path(Some(path.clone()));
        }
        if let Some((cert, key)) = &tls.identity {
            ssl = ssl.with_client_identity(Some(ClientIdentity::new(cert.clone(), key.clone())));
        }
        Connector {
            plain: opts.clone().ssl_opts(None).into(),
            secure: opts.ssl_opts(Some(ssl)).into(),
            tls: tls.clone(),
            no_tls_offered: false,
        }
    }

    /// A new connection.
    pub fn connect(&mut self) -> mysql::Result<Conn> {
        match self.tls.mode {
            Mode::Disable => Conn::new(self.plain.clone()),
            Mode::Allow | Mode::Prefer if self.no_tls_offered => Conn::new(self.plain.clone()),
            Mode::Allow | Mode::Prefer => match Conn::new(self.secure.clone()) {
                Err(mysql::Error::DriverError(mysql::DriverError::TlsNotSupported)) => {
                    self.no_tls_offered = true;
                    Conn::new(self.plain.clone())
                }
                other => other,
            },
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => {
                self.tls.check_files().map_err(|why| {
                    mysql::Error::IoError(std::io::Error::other(super::tls::FileError(why)))
                })?;
                Conn::new(self.secure.clone())
            }
        }
    }

    /// Why connecting failed for a TLS reason, and the fix; `None` for other failures.
    pub fn tls_problem(&self, error: &mysql::Error) -> Option<String> {
        if matches!(
            error,
            mysql::Error::DriverError(mysql::DriverError::TlsNotSupported)
        ) {
            return Some(self.tls.refused());
        }
        // The client's errors name their causes with the deprecated `cause`, not `source`.
        let inner: &(dyn std::error::Error + 'static) = match error {
            mysql::Error::IoError(io) => io,
            mysql::Error::CodecError(codec) => codec,
            mysql::Error::TlsError(tls) => tls,
            other => other,
        };
        self.tls.explain(inner)
    }
}

/// Runs `sql` over the text protocol and returns its first result set as text.
pub fn table(conn: &mut Conn, sql: &str) -> mysql::Result<Table> {
    let mut result = conn.query_iter(sql)?;
    let columns = result
        .columns()
        .as_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    let mut rows = Vec::new();
    if let Some(set) = result.iter() {
        for row in set {
            rows.push(row?.unwrap().iter().map(text).collect());
        }
    }
    Ok(Table { columns, rows })
}

/// A value as text, as the text protocol sends it; `None` for NULL.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Double(d) => Some(d.to_string()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_parameters_and_redaction() {
        let d = parse("mariadb://dozor:s3cret@db2/mes?ssl-mode=verify_identity&ssl-ca=/etc/ca.pem&socket=/run/s")
            .unwrap();
        assert_eq!(d.tls.mode, Mode::VerifyFull);
        assert_eq!(d.tls.roots, Roots::File("/etc/ca.pem".into()));
        assert_eq!(d.opts.get_socket(), Some("/run/s"));
        assert_eq!(
            describe(&d.opts, &d.tls),
            "dozor@unix:/run/s/mes?ssl-mode=VERIFY_IDENTITY"
        );
        let d = parse("mysql://dozor:s3cret@db2:3307/mes").unwrap();
        assert_eq!(d.tls.mode, Mode::Prefer);
        assert_eq!(describe(&d.opts, &d.tls), "dozor@db2:3307/mes");
        for (dsn, want) in [
            (
                "mysql://a:s3cret@h/x?ssl-mode=ON",
                "invalid value of ssl-mode",
            ),
            (
                "mysql://a:s3cret@h/x?root_cert_path=/ca",
                "TLS is set with ssl-mode",
            ),
            ("mysql://a:s3cret@h/x?ssl-cert=/c", "ssl-cert needs ssl-key"),
            ("mysql://a:s3cret@h:port/x", "invalid port"),
            ("postgres://a:s3cret@h/x", "must start with mysql://"),
        ] {
            let e = parse(dsn).err().unwrap();
            assert!(e.contains(want), "{dsn}: {e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
    }
}
