//! Certificates made by the test (rcgen) and TLS clients for both receivers.

use super::wire::Reply;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto};

/// A CA, a server certificate for `localhost` and a client certificate it signed, and a
/// second CA nobody's certificate chains to.
pub struct Pki {
    pub ca: String,
    pub other_ca: String,
    pub server_cert: String,
    pub server_key: String,
    pub client_cert: String,
    pub client_key: String,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

impl Pki {
    pub fn new() -> Pki {
        let root = ca("dozor test CA");
        let other = ca("some other CA");
        let leaf = |names: Vec<String>| {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(names)
                .unwrap()
                .signed_by(&key, &root)
                .unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = leaf(vec!["localhost".into()]);
        let (client_cert, client_key) = leaf(vec!["agent-1".into()]);
        Pki {
            ca: root.pem(),
            other_ca: other.pem(),
            server_cert,
            server_key,
            client_cert,
            client_key,
        }
    }

    /// Writes every PEM into `dir`; returns the directory's path for `file()`.
    pub fn write(&self, dir: &Path) -> PathBuf {
        for (name, text) in [
            ("ca.pem", &self.ca),
            ("other-ca.pem", &self.other_ca),
            ("server.pem", &self.server_cert),
            ("server.key", &self.server_key),
            ("client.pem", &self.client_cert),
            ("client.key", &self.client_key),
        ] {
            std::fs::write(dir.join(name), text).unwrap();
        }
        dir.to_path_buf()
    }
}

/// A rustls client trusting `ca_pem`, presenting a client certificate when given one.
pub fn client_config(ca_pem: &str, client: Option<(&str, &str)>, alpn: &[u8]) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let b = ClientConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match client {
        None => b.with_no_client_auth(),
        Some((cert, key)) => {
            let certs = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
            b.with_client_auth_cert(certs, key).unwrap()
        }
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    config
}

/// POST /v1/metrics over HTTPS (server name `localhost`); `Err` when TLS or HTTP fails.
pub async fn https_post(
    addr: SocketAddr,
    config: ClientConfig,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Reply, String> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from("localhost").unwrap();
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| format!("http: {e}"))?;
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method("POST")
        .uri("/v1/metrics")
        .header("host", "localhost")
        .header("content-type", "application/x-protobuf");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .map_err(|e| format!("request: {e}"))?;
    let (parts, body) = resp.into_parts();
    Ok(Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: body
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes(),
    })
}

/// A gRPC export over TLS with tonic's client; the status code.
pub async fn grpcs_export(
    addr: SocketAddr,
    ca_pem: &str,
    client: Option<(&str, &str)>,
    req: dozor_metrics::otlp::collector::metrics::v1::ExportMetricsServiceRequest,
) -> Result<tonic::Code, String> {
    use dozor_metrics::otlp::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name("localhost");
    if let Some((cert, key)) = client {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let channel = Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .map_err(|e| format!("tls config: {e}"))?
        .connect()
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    let mut client = MetricsServiceClient::new(channel);
    match client.export(req).await {
        Ok(_) => Ok(tonic::Code::Ok),
        Err(s) => Ok(s.code()),
    }
}
