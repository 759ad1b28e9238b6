//! TLS settings of a database connection, read from its DSN: the mode (libpq's `sslmode`,
//! MySQL's `ssl-mode`), the trusted roots and the client certificate; the rustls configuration
//! they mean; and explanations of TLS failures that name the parameter to change.
//!
//! The modes follow libpq: `disable` never encrypts; `allow` tries without TLS first; `prefer`
//! (the default) tries TLS first; `require` insists on TLS; `verify-ca` also checks that the
//! server's certificate chains to the root; `verify-full` also checks the host name. When a root
//! is given, `allow`, `prefer` and `require` check the chain too (libpq and MySQL's client both
//! do), so a root file never gives less than it promises.

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};
use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;

/// How much TLS a connection insists on, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    /// Never encrypt.
    Disable,
    /// Plain first; TLS only when the server refuses a plain connection.
    Allow,
    /// TLS when the server offers it, plain otherwise.
    Prefer,
    /// TLS or fail; the certificate is checked only against a root that is given.
    Require,
    /// TLS, and the certificate must chain to the root.
    VerifyCa,
    /// TLS, the certificate must chain to the root and name the host connected to.
    VerifyFull,
}

/// Where trusted roots come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Roots {
    /// None: the chain is not checked (`verify-*` modes refuse this at parse time).
    None,
    /// A PEM file of CA certificates.
    File(PathBuf),
    /// The operating system's store (libpq's `sslrootcert=system`).
    System,
}

/// The parameter names and mode values of one DSN dialect, for messages.
#[derive(Debug, PartialEq, Eq)]
pub struct Dialect {
    /// The mode parameter: `sslmode`, `ssl-mode`.
    pub mode: &'static str,
    /// The root certificate parameter.
    pub root: &'static str,
    /// The client certificate parameter.
    pub cert: &'static str,
    /// The client key parameter.
    pub key: &'static str,
    /// Mode values, [`Mode`] order.
    pub values: [&'static str; 6],
}

impl Dialect {
    /// The client certificate and key files, from the DSN's values of [`Dialect::cert`] and
    /// [`Dialect::key`], which go together.
    pub fn identity(
        &self,
        cert: Option<&str>,
        key: Option<&str>,
    ) -> Result<Option<(PathBuf, PathBuf)>, String> {
        let (c, k) = (self.cert, self.key);
        match (cert, key) {
            (Some(cert), Some(key)) => Ok(Some((cert.into(), key.into()))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(format!("{c} needs {k}, the file of its private key")),
            (None, Some(_)) => Err(format!("{k} needs {c}, the file of its certificate")),
        }
    }
}

/// libpq's spelling.
pub const LIBPQ: Dialect = Dialect {
    mode: "sslmode",
    root: "sslrootcert",
    cert: "sslcert",
    key: "sslkey",
    values: [
        "disable",
        "allow",
        "prefer",
        "require",
        "verify-ca",
        "verify-full",
    ],
};

/// MySQL's client spelling (`mysql --ssl-mode`, MySQL Shell URIs).
pub const MYSQL: Dialect = Dialect {
    mode: "ssl-mode",
    root: "ssl-ca",
    cert: "ssl-cert",
    key: "ssl-key",
    values: [
        "DISABLED",
        "PREFERRED",
        "PREFERRED",
        "REQUIRED",
        "VERIFY_CA",
        "VERIFY_IDENTITY",
    ],
};

/// The TLS part of a DSN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The mode.
    pub mode: Mode,
    /// Trusted roots.
    pub roots: Roots,
    /// Client certificate and key files, both or neither.
    pub identity: Option<(PathBuf, PathBuf)>,
    /// How the DSN spells its parameters.
    pub dialect: &'static Dialect,
}

impl Settings {
    /// `mode=value` as the DSN spells it.
    pub fn shown(&self, mode: Mode) -> String {
        format!(
            "{}={}",
            self.dialect.mode, self.dialect.values[mode as usize]
        )
    }

    /// Whether the server's chain is checked.
    pub fn checks_chain(&self) -> bool {
        self.mode >= Mode::VerifyCa || (self.mode > Mode::Disable && self.roots != Roots::None)
    }

    /// Reads every file named, so a missing or unreadable one is reported at config validation.
    pub fn check_files(&self) -> Result<(), String> {
        if self.mode == Mode::Disable {
            return Ok(());
        }
        self.root_store()?;
        self.client_identity()?;
        Ok(())
    }

    fn root_store(&self) -> Result<RootCertStore, String> {
        let mut store = RootCertStore::empty();
        match &self.roots {
            Roots::None => {}
            Roots::File(path) => {
                let name = self.dialect.root;
                let certs = read_certs(path).map_err(|e| format!("{name} {e}"))?;
                let (added, _) = store.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(format!(
                        "{name} {}: holds no usable CA certificate",
                        path.display()
                    ));
                }
            }
            Roots::System => {
                let found = rustls_native_certs::load_native_certs();
                store.add_parsable_certificates(found.certs);
                if store.is_empty() {
                    return Err(format!(
                        "{}=system: the system has no CA certificates (install ca-certificates)",
                        self.dialect.root
                    ));
                }
            }
        }
        Ok(store)
    }

    fn client_identity(
        &self,
    ) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, String> {
        let Some((cert, key)) = &self.identity else {
            return Ok(None);
        };
        let chain = read_certs(cert).map_err(|e| format!("{} {e}", self.dialect.cert))?;
        if chain.is_empty() {
            return Err(format!(
                "{} {}: holds no PEM certificate",
                self.dialect.cert,
                cert.display()
            ));
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
            format!(
                "{} {}: {}",
                self.dialect.key,
                key.display(),
                pem_problem(&e)
            )
        })?;
        Ok(Some((chain, key)))
    }

    /// The rustls client configuration for these settings (files are read again each time, so
    /// a renewed certificate is used from the next connection on).
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, FileError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = if self.checks_chain() {
            let store = self.root_store().map_err(FileError)?;
            let webpki =
                WebPkiServerVerifier::builder_with_provider(store.into(), provider.clone())
                    .build()
                    .map_err(|e| FileError(format!("{}: {e}", self.dialect.root)))?;
            if self.mode == Mode::VerifyFull {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        } else {
            Arc::new(Unverified(provider.clone()))
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| FileError(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match self.client_identity().map_err(FileError)? {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| FileError(format!("{}: {e}", self.dialect.key)))?,
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }

    /// Why the TLS handshake failed and what to change, when `error`'s chain holds a rustls
    /// error or a [`FileError`].
    pub fn explain(&self, error: &(dyn Error + 'static)) -> Option<String> {
        if let Some(FileError(why)) = find::<FileError>(error) {
            return Some(format!("{why}: fix the path, or the file's permissions"));
        }
        let e = find::<rustls::Error>(error)?;
        let d = self.dialect;
        use CertificateError::*;
        Some(match e {
            rustls::Error::InvalidCertificate(NotValidForName | NotValidForNameContext { .. }) => {
                format!(
                    "the server's certificate is not valid for the host name connected to ({e}): connect by a name the certificate carries, or use {} to check the chain only",
                    self.shown(Mode::VerifyCa)
                )
            }
            rustls::Error::InvalidCertificate(UnknownIssuer | BadSignature) => {
                let root = match &self.roots {
                    Roots::File(p) => format!("{} {}", d.root, p.display()),
                    Roots::System => format!("{}=system", d.root),
                    Roots::None => d.root.to_string(),
                };
                format!(
                    "the server's certificate is not signed by a CA in {root} ({e}): point {} at the CA that signed it, or use {} to encrypt without verifying",
                    d.root,
                    self.shown(Mode::Require)
                )
            }
            rustls::Error::InvalidCertificate(Expired | ExpiredContext { .. }) => {
                format!("the server's certificate has expired ({e}): renew it on the server")
            }
            rustls::Error::AlertReceived(_) if self.identity.is_none() => format!(
                "the server ended the handshake ({e}); if it wants a client certificate, set {} and {}",
                d.cert, d.key
            ),
            rustls::Error::AlertReceived(_) => format!(
                "the server ended the handshake ({e}): check that it trusts the CA of {} and that {} matches it",
                d.cert, d.key
            ),
            other => format!("the TLS handshake failed: {other}"),
        })
    }

    /// The message for a server that does not offer TLS while the mode requires it.
    pub fn refused(&self) -> String {
        format!(
            "the server does not offer TLS but the DSN has {}: enable TLS on the server, or use {} (encrypted only when the server offers it)",
            self.shown(self.mode),
            self.shown(Mode::Prefer)
        )
    }
}

/// A TLS file that could not be read or used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FileError(pub String);

/// The first error of type `T` in `error`'s chain, looking inside I/O errors too (rustls's
/// errors travel wrapped in them).
pub fn find<'a, T: Error + 'static>(error: &'a (dyn Error + 'static)) -> Option<&'a T> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(t) = e.downcast_ref::<T>() {
            return Some(t);
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            && let Some(t) = find::<T>(inner)
        {
            return Some(t);
        }
        next = e.source();
    }
    None
}

fn read_certs(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    std::fs::metadata(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {}", path.display(), pem_problem(&e)))
}

fn pem_problem(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => format!("cannot read: {io}"),
        rustls::pki_types::pem::Error::NoItemsFound => "holds no PEM item of that kind".into(),
        other => format!("not valid PEM: {other:?}"),
    }
}

/// `verify-ca`: the chain is checked, the name is not.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain before the name: a name error means the chain is good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` and `require` without a root: encrypted, not authenticated (the handshake's
/// signatures are still checked, against the certificate the server sent).
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
