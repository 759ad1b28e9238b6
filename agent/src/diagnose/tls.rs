//! `collector.tls`: a TLS handshake with an `https://` endpoint, verified against the configured
//! CA (`exporters.otlp.tls.ca_file`, else the system's roots) and name (`server_name`, else the
//! endpoint's host), as the exporter verifies it; a failure is named: expired, unknown issuer,
//! name mismatch.

use super::collector::{authority, file};
use super::report::Outcome;
use super::{Check, Ctx, PEER_TIMEOUT, Waiting};
use crate::export::secrets::{self, TlsMaterial};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{CertificateError, ClientConfig, ClientConnection, RootCertStore};
use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;

/// The check for one endpoint.
pub fn check(ctx: &Arc<Ctx>, endpoint: &str) -> Check {
    let (ctx, endpoint) = (ctx.clone(), endpoint.to_string());
    Check::blocking(
        format!("collector.tls {endpoint}"),
        PEER_TIMEOUT,
        move |w| {
            if !endpoint.starts_with("https://") {
                return Outcome::skip("plain http: no TLS to this endpoint");
            }
            let material = match secrets::tls(&ctx.config.exporters.otlp.tls) {
                Ok(m) => m,
                Err(e) => {
                    return Outcome::fail(
                        format!("{e:#}"),
                        format!("correct exporters.otlp.tls in {}", file(&ctx)),
                    );
                }
            };
            handshake(&ctx, &endpoint, &material, &w)
        },
    )
}

fn handshake(ctx: &Ctx, endpoint: &str, material: &TlsMaterial, w: &Waiting) -> Outcome {
    let Some((host, port)) = authority(endpoint) else {
        return Outcome::fail(
            format!("{endpoint} is not a URL"),
            "correct exporters.otlp.endpoints",
        );
    };
    let name = material.server_name.clone().unwrap_or_else(|| host.clone());
    let ca_source = ctx
        .config
        .exporters
        .otlp
        .tls
        .ca_file
        .as_deref()
        .map_or("the system's CA certificates".to_string(), |p| {
            p.display().to_string()
        });
    let config = match client_config(material) {
        Ok(c) => c,
        Err(e) => return Outcome::fail(e, format!("correct exporters.otlp.tls in {}", file(ctx))),
    };
    let Ok(server_name) = ServerName::try_from(name.clone()) else {
        return Outcome::fail(
            format!("{name:?} is not a valid server name"),
            "correct exporters.otlp.tls.server_name",
        );
    };
    w.on(format!("a TCP connection to {host}:{port}"));
    let addr = match (host.as_str(), port)
        .to_socket_addrs()
        .map(|mut a| a.next())
    {
        Ok(Some(a)) => a,
        _ => return Outcome::fail(format!("cannot resolve {host}"), "see collector.reach"),
    };
    let mut tcp = match TcpStream::connect_timeout(&addr, PEER_TIMEOUT) {
        Ok(t) => t,
        Err(e) => {
            return Outcome::fail(
                format!("cannot connect to {addr}: {e}"),
                "see collector.reach",
            );
        }
    };
    let _ = tcp.set_read_timeout(Some(PEER_TIMEOUT));
    let mut conn = match ClientConnection::new(Arc::new(config), server_name) {
        Ok(c) => c,
        Err(e) => return Outcome::fail(format!("TLS setup: {e}"), "report this as a bug"),
    };
    w.on(format!("the TLS handshake with {addr}"));
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut tcp) {
            return explain(&e, &name, &ca_source, ctx);
        }
    }
    let _ = tcp.flush();
    let version = conn
        .protocol_version()
        .map_or("TLS".into(), |v| format!("{v:?}"));
    Outcome::pass(format!(
        "{version} handshake: the certificate for {name} is valid and issued by a CA in {ca_source}"
    ))
}

/// Names the reason of a failed handshake, with its fix.
fn explain(e: &std::io::Error, name: &str, ca_source: &str, ctx: &Ctx) -> Outcome {
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let file = file(ctx);
    match tls {
        Some(rustls::Error::InvalidCertificate(cert)) => match cert {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => Outcome::fail(
                format!("the collector's certificate has expired ({cert})"),
                "renew the collector's certificate (receivers.*.tls.cert_file) and restart it; check this host's clock too",
            ),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                Outcome::fail(
                    format!("the collector's certificate is not valid yet ({cert})"),
                    "check this host's clock (`timedatectl`), or reissue the certificate",
                )
            }
            CertificateError::UnknownIssuer => Outcome::fail(
                format!(
                    "unknown issuer: the collector's certificate is not signed by a CA in {ca_source}"
                ),
                format!(
                    "set exporters.otlp.tls.ca_file in {file} to the CA that signed the collector's certificate"
                ),
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                Outcome::fail(
                    format!(
                        "name mismatch: the collector's certificate is not valid for {name} ({cert})"
                    ),
                    format!(
                        "address the collector by a name in its certificate, or set exporters.otlp.tls.server_name in {file} to one"
                    ),
                )
            }
            other => Outcome::fail(
                format!("the collector's certificate is rejected: {other}"),
                "reissue the collector's certificate from the CA in exporters.otlp.tls.ca_file",
            ),
        },
        Some(other) => Outcome::fail(
            format!("TLS handshake failed: {other}"),
            "check that the endpoint speaks TLS (https://) and that client certificates match what it asks for",
        ),
        None => Outcome::fail(
            format!("TLS handshake failed: {e}"),
            "check that the endpoint speaks TLS: an http:// collector behind an https:// endpoint fails this way",
        ),
    }
}

fn client_config(material: &TlsMaterial) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    match &material.ca {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| format!("the CA file: {e}"))?;
                roots.add(cert).map_err(|e| format!("the CA file: {e}"))?;
            }
        }
        // The system's roots, as tonic's `with_native_roots` loads them.
        #[cfg(any(feature = "db", feature = "nats", feature = "probes"))]
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
        #[cfg(not(any(feature = "db", feature = "nats", feature = "probes")))]
        None => {}
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    match &material.identity {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("the client certificate: {e}"))?;
            let key =
                PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("the client key: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("the client certificate: {e}"))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}
