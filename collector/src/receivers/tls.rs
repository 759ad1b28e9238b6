//! TLS for the OTLP/HTTP receiver: a rustls server configuration from PEM files, and a
//! listener that hands out connections whose handshake has finished.
//!
//! Connections are admitted (`limits.connections`) before their handshake, which runs in its
//! own task and counts as header time (`header_read_timeout`), so a client that connects and
//! says nothing does not hold up the others. The gRPC receiver uses tonic's own TLS
//! (`tls-ring`), built on the same rustls.

use super::conn::{Accept, Conn, Conns, Tracked};
use crate::config::Tls;
use crate::telemetry::CloseReason;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig, crypto};
use tokio_rustls::server::TlsStream;
use tracing::debug;

/// The rustls configuration of `tls`, for `prefix` (the receiver's key path in errors).
pub fn server_config(tls: &Tls, prefix: &str, alpn: &[&[u8]]) -> Result<ServerConfig, String> {
    let err = |key: &str, path: &str, e: &dyn std::fmt::Display| {
        format!("{prefix}.tls.{key}: {path}: {e}")
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert_file)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| err("cert_file", &tls.cert_file, &e))?;
    if certs.is_empty() {
        return Err(err("cert_file", &tls.cert_file, &"no certificate in it"));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key_file)
        .map_err(|e| err("key_file", &tls.key_file, &e))?;
    let provider = Arc::new(crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("{prefix}.tls: {e}"))?;
    let builder = if tls.client_ca_file.is_empty() {
        builder.with_no_client_auth()
    } else {
        let ca = &tls.client_ca_file;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca).map_err(|e| err("client_ca_file", ca, &e))? {
            let cert = cert.map_err(|e| err("client_ca_file", ca, &e))?;
            roots.add(cert).map_err(|e| err("client_ca_file", ca, &e))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| err("client_ca_file", ca, &e))?;
        builder.with_client_cert_verifier(verifier)
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| err("key_file", &tls.key_file, &e))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// A listener yielding TLS connections whose handshake succeeded.
#[derive(Debug)]
pub struct TlsListener {
    ready: mpsc::Receiver<TlsStream<Tracked<TcpStream>>>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Accepts on `tcp` the connections `conns` admits, and runs handshakes with `config`.
    pub fn new(tcp: TcpListener, config: ServerConfig, conns: Arc<Conns>) -> Self {
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let (tx, ready) = mpsc::channel(64);
        let acceptor = tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors, usually: wait instead of spinning.
                        debug!(error = %e, "Accept failed.");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Some(conn) = conns.admit(peer, true) else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                let stream = Tracked::new(stream, conn.clone());
                // Reads time out at header_read_timeout already; this also bounds a client that
                // never reads what the server writes.
                let limit = conns.limits().header_read_timeout;
                tokio::spawn(async move {
                    match tokio::time::timeout(limit, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send(tls).await;
                        }
                        Ok(Err(e)) => debug!(peer = %peer, error = %e, "TLS handshake failed."),
                        Err(_) => conn.close(CloseReason::HeaderTimeout),
                    }
                });
            }
        });
        TlsListener { ready, acceptor }
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl Accept for TlsListener {
    type Io = TlsStream<Tracked<TcpStream>>;

    async fn accept(&mut self) -> (Self::Io, Arc<Conn>) {
        match self.ready.recv().await {
            Some(tls) => {
                let conn = tls.get_ref().0.conn().clone();
                (tls, conn)
            }
            // The accept task only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }
}
