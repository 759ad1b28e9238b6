//! TLS for the HTTP probe: a certificate verifier that records what the server presented (the
//! earliest expiry of its chain) and the verdict of rustls' real WebPKI verifier, so both are
//! known also when the chain is refused; it fails the handshake on a refused chain unless
//! `insecure_skip_verify` is set.

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use std::sync::{Arc, Mutex};

/// What the last handshake's verification saw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    /// The earliest notAfter of the presented certificates, Unix seconds (`None`: none parsed).
    pub expiry: Option<i64>,
    /// The real verifier's verdict: `Ok` or its error.
    pub verdict: Option<Result<(), Error>>,
}

/// The recording verifier.
#[derive(Debug)]
pub struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    insecure: bool,
    seen: Mutex<Seen>,
}

impl Recording {
    /// A verifier against `roots` that enforces its verdict unless `insecure`.
    pub fn new(roots: RootCertStore, insecure: bool) -> Result<Arc<Recording>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| format!("TLS verifier: {e}"))?;
        Ok(Arc::new(Recording {
            inner,
            insecure,
            seen: Mutex::new(Seen::default()),
        }))
    }

    /// Forgets the last handshake (call before each).
    pub fn reset(&self) {
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Seen::default();
    }

    /// What the last handshake's verification saw.
    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The earliest notAfter of `certs`, as Unix seconds.
pub fn earliest_expiry<'a>(certs: impl IntoIterator<Item = &'a CertificateDer<'a>>) -> Option<i64> {
    certs
        .into_iter()
        .filter_map(|der| x509_parser::parse_x509_certificate(der.as_ref()).ok())
        .map(|(_, c)| c.validity().not_after.timestamp())
        .min()
}

/// The `error.type` of a refused chain.
pub fn reason(e: &Error) -> &'static str {
    match e {
        Error::InvalidCertificate(CertificateError::Expired)
        | Error::InvalidCertificate(CertificateError::ExpiredContext { .. }) => {
            "certificate_expired"
        }
        Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => "certificate_name",
        Error::InvalidCertificate(_) => "certificate_untrusted",
        _ => "tls",
    }
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let expiry = earliest_expiry(std::iter::once(end_entity).chain(intermediates));
        let verdict = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map(|_| ());
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Seen {
            expiry,
            verdict: Some(verdict.clone()),
        };
        match verdict {
            Err(e) if !self.insecure => Err(e),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
