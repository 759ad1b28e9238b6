//! PostgreSQL connection strings and connections, with TLS as libpq does it.
//!
//! The client crate parses `sslmode` only as `disable`, `prefer` and `require`, and knows no
//! `sslrootcert`, `sslcert` or `sslkey`: [`parse`] takes those out of the DSN (URL or key/value)
//! first, and [`connect`] carries them out with rustls.

use super::tls::{FileError, LIBPQ, Mode, Roots, Settings};
use postgres::config::{Host, SslMode};
use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A parsed PostgreSQL DSN.
#[derive(Clone)]
pub struct Dsn {
    /// The client configuration, TLS parameters removed.
    pub config: postgres::Config,
    /// The TLS parameters.
    pub tls: Settings,
}

impl std::fmt::Debug for Dsn {
    /// Without the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dsn({:?})", describe(&self.config, &self.tls))
    }
}

impl Default for Dsn {
    /// libpq's defaults: the local server, `sslmode=prefer`.
    fn default() -> Self {
        Dsn {
            config: postgres::Config::new(),
            tls: Settings {
                mode: Mode::Prefer,
                roots: Roots::None,
                identity: None,
                dialect: &LIBPQ,
            },
        }
    }
}

/// Parses a URL or key/value DSN; the error names the parameter, never a value.
pub fn parse(text: &str) -> Result<Dsn, String> {
    if text.trim().is_empty() {
        return Err("empty".into());
    }
    let (rest, params) = split_tls_params(text)?;
    let config: postgres::Config = rest.parse().map_err(|e: postgres::Error| e.to_string())?;
    let get = |key: &str| {
        params
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let roots = match get("sslrootcert") {
        Some("system") => Roots::System,
        Some(path) if !path.is_empty() => Roots::File(path.into()),
        _ => default_root().map_or(Roots::None, Roots::File),
    };
    let mode = match get("sslmode") {
        None if roots == Roots::System => Mode::VerifyFull,
        None => Mode::Prefer,
        Some(value) => LIBPQ
            .values
            .iter()
            .position(|v| *v == value)
            .map(mode_at)
            .ok_or("invalid value for option `sslmode`: use disable, allow, prefer, require, verify-ca or verify-full")?,
    };
    if roots == Roots::System && mode < Mode::VerifyFull {
        return Err(
            "sslrootcert=system needs sslmode=verify-full (libpq refuses weaker modes with it)"
                .into(),
        );
    }
    if mode >= Mode::VerifyCa && roots == Roots::None {
        return Err(format!(
            "sslmode={} needs sslrootcert: the CA file that signed the server's certificate, or system",
            LIBPQ.values[mode as usize]
        ));
    }
    let identity = LIBPQ.identity(get("sslcert"), get("sslkey"))?;
    Ok(Dsn {
        config,
        tls: Settings {
            mode,
            roots,
            identity,
            dialect: &LIBPQ,
        },
    })
}

fn mode_at(i: usize) -> Mode {
    [
        Mode::Disable,
        Mode::Allow,
        Mode::Prefer,
        Mode::Require,
        Mode::VerifyCa,
        Mode::VerifyFull,
    ][i]
}

/// libpq's default root file, `~/.postgresql/root.crt`, when it exists.
fn default_root() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os("HOME")?).join(".postgresql/root.crt");
    path.exists().then_some(path)
}

const TLS_KEYS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// The DSN without the TLS parameters, and those parameters (key, value).
fn split_tls_params(text: &str) -> Result<(String, Vec<(String, String)>), String> {
    let text = text.trim();
    let mut params = Vec::new();
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        let Some((base, query)) = text.split_once('?') else {
            return Ok((text.to_string(), params));
        };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if TLS_KEYS.contains(&k) {
                params.push((k.to_string(), percent_decode(v)?));
            } else {
                kept.push(pair);
            }
        }
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok((rest, params));
    }
    // key = value pairs, values bare or in single quotes, with backslash escapes.
    let mut rest = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut key = String::new();
        while let Some(&(_, c)) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            // Malformed: leave it to the client's parser to report.
            return Ok((text.to_string(), Vec::new()));
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        let quoted = chars.next_if(|(_, c)| *c == '\'').is_some();
        let mut end = text.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => value.extend(chars.next().map(|(_, c)| c)),
                '\'' if quoted => {
                    end = i + 1;
                    break;
                }
                c if c.is_whitespace() && !quoted => {
                    end = i;
                    break;
                }
                c => value.push(c),
            }
        }
        if TLS_KEYS.contains(&key.as_str()) {
            params.push((key, value));
        } else {
            rest.push_str(&text[start..end]);
            rest.push(' ');
        }
    }
    Ok((rest.trim_end().to_string(), params))
}

fn percent_decode(v: &str) -> Result<String, String> {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = v
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("invalid percent-encoding in a TLS parameter")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "a TLS parameter is not UTF-8".into())
}

/// Where a configuration points, without the password:
/// `host=db1 port=5432 user=dozor dbname=postgres`, with `sslmode` when it is not `prefer`.
pub fn describe(c: &postgres::Config, tls: &Settings) -> String {
    let hosts: Vec<String> = c
        .get_hosts()
        .iter()
        .map(|h| match h {
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = c.get_ports().iter().map(u16::to_string).collect();
    let or = |s: String, default: &str| if s.is_empty() { default.to_string() } else { s };
    let mut out = format!(
        "host={} port={}",
        or(hosts.join(","), "localhost"),
        or(ports.join(","), "5432")
    );
    if let Some(user) = c.get_user() {
        out.push_str(&format!(" user={user}"));
    }
    if let Some(db) = c.get_dbname() {
        out.push_str(&format!(" dbname={db}"));
    }
    if tls.mode != Mode::Prefer {
        out.push_str(&format!(" {}", tls.shown(tls.mode)));
    }
    out
}

/// Connects as `sslmode` says: `allow` tries without TLS and then with it when the server
/// answered with an error; `prefer` tries with TLS and then without when the handshake failed.
/// Unix sockets never use TLS (nor does libpq).
pub fn connect(
    config: &postgres::Config,
    tls: &Settings,
) -> Result<postgres::Client, postgres::Error> {
    let unix = config
        .get_hosts()
        .iter()
        .all(|h| matches!(h, Host::Unix(_)));
    let mode = if unix { Mode::Disable } else { tls.mode };
    let mut c = config.clone();
    let plain = |c: &mut postgres::Config| c.ssl_mode(SslMode::Disable).connect(postgres::NoTls);
    let secure = |c: &mut postgres::Config, ssl: SslMode| {
        c.ssl_mode(ssl).connect(Rustls(Arc::new(tls.clone())))
    };
    match mode {
        Mode::Disable => plain(&mut c),
        Mode::Allow => match plain(&mut c) {
            Err(e) if e.as_db_error().is_some() => secure(&mut c, SslMode::Require),
            other => other,
        },
        Mode::Prefer => match secure(&mut c, SslMode::Prefer) {
            Err(e) if super::tls::find::<rustls::Error>(&e).is_some() => plain(&mut c),
            other => other,
        },
        Mode::Require | Mode::VerifyCa | Mode::VerifyFull => secure(&mut c, SslMode::Require),
    }
}

/// Why connecting failed for a TLS reason, and the fix; `None` for other failures.
pub fn tls_problem(error: &postgres::Error, tls: &Settings) -> Option<String> {
    if error.to_string().contains("TLS")
        && let Some(source) = std::error::Error::source(error)
        && source.to_string() == "server does not support TLS"
    {
        return Some(tls.refused());
    }
    tls.explain(error)
}

/// Closes a client. The blocking client drives its own runtime to say goodbye to the server,
/// which panics on a thread that runs async tasks (the scheduler drops idle integrations there
/// at shutdown): it is closed on a thread of its own then.
pub fn close(client: postgres::Client) {
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::spawn(move || drop(client));
    }
}

/// rustls for the PostgreSQL client, configured by [`Settings`].
struct Rustls(Arc<Settings>);

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> MakeTlsConnect<S> for Rustls {
    type Stream = TlsStream<S>;
    type TlsConnect = Connector;
    type Error = FileError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<Connector, FileError> {
        let config = self.0.client_config()?;
        let name = ServerName::try_from(domain.to_string())
            .map_err(|e| FileError(format!("host {domain} cannot be checked by TLS: {e}")))?;
        Ok(Connector { config, name })
    }
}

struct Connector {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

type Handshake<S> =
    Pin<Box<dyn Future<Output = Result<TlsStream<S>, std::io::Error>> + Send + 'static>>;

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> TlsConnect<S> for Connector {
    type Stream = TlsStream<S>;
    type Error = std::io::Error;
    type Future = Handshake<S>;

    fn connect(self, stream: S) -> Handshake<S> {
        let connector = tokio_rustls::TlsConnector::from(self.config);
        Box::pin(async move { connector.connect(self.name, stream).await.map(TlsStream) })
    }
}

/// An encrypted connection. Channel binding is not offered (`channel_binding=prefer`, the
/// default, then authenticates without it).
struct TlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> postgres::tls::TlsStream for TlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_of_both_forms() {
        let cases = [
            (
                "host=db1 user=dozor sslmode=verify-full sslrootcert='/etc/ca dir/ca.pem' password=s3cret",
                "host=db1 user=dozor password=s3cret",
                Mode::VerifyFull,
                Roots::File("/etc/ca dir/ca.pem".into()),
            ),
            (
                "postgresql://dozor:s3cret@db1:5433/shop?sslmode=require&application_name=x&sslrootcert=%2Fca.pem",
                "postgresql://dozor:s3cret@db1:5433/shop?application_name=x",
                Mode::Require,
                Roots::File("/ca.pem".into()),
            ),
            (
                "host = db1 sslmode = disable",
                "host = db1",
                Mode::Disable,
                Roots::None,
            ),
            (
                "postgres://db1/x",
                "postgres://db1/x",
                Mode::Prefer,
                Roots::None,
            ),
            (
                "host=db1 sslrootcert=system",
                "host=db1",
                Mode::VerifyFull,
                Roots::System,
            ),
        ];
        for (dsn, rest, mode, roots) in cases {
            let (left, _) = split_tls_params(dsn).unwrap();
            assert_eq!(left, rest, "{dsn}");
            // A ~/.postgresql/root.crt on this machine would be the default root.
            if default_root().is_some() {
                continue;
            }
            let parsed = parse(dsn).unwrap();
            assert_eq!((parsed.tls.mode, parsed.tls.roots), (mode, roots), "{dsn}");
        }
    }

    #[test]
    fn unusable_combinations_name_the_fix() {
        for (dsn, want) in [
            (
                "host=db1 sslmode=verify-ca",
                "sslmode=verify-ca needs sslrootcert",
            ),
            (
                "host=db1 sslmode=strict",
                "invalid value for option `sslmode`",
            ),
            (
                "host=db1 sslrootcert=system sslmode=require",
                "needs sslmode=verify-full",
            ),
            ("host=db1 sslcert=/c.pem", "sslcert needs sslkey"),
            (
                "postgresql://a:s3cret@db1/x?sslrootcert=%zz",
                "invalid percent-encoding",
            ),
        ] {
            let e = parse(dsn).err().unwrap();
            assert!(e.contains(want), "{dsn}: {e}");
            assert!(!e.contains("s3cret"));
        }
    }

    #[test]
    fn describe_shows_sslmode_unless_default() {
        let d = parse("host=db1 user=dozor password=s3cret sslmode=require").unwrap();
        assert_eq!(
            describe(&d.config, &d.tls),
            "host=db1 port=5432 user=dozor sslmode=require"
        );
    }
}
