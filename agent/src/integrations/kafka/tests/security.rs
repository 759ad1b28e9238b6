//! TLS and SASL. No broker with TLS or SASL listeners runs here (noida-db speaks PLAINTEXT), so
//! the test puts a Kafka-aware front in front of a real noida-db: it terminates TLS (rustls, a
//! CA the test makes), plays the broker's side of SaslHandshake/SaslAuthenticate (PLAIN, and
//! SCRAM-SHA-256/512 verifying the client's proof against the StoredKey of a known password),
//! drops any other request before authentication as Kafka does, and forwards the rest frame by
//! frame, advertising itself in Metadata and FindCoordinator. The lag read through it is
//! compared with what the test produced and committed.

use super::lag::{M, N, setup};
use super::{collect, instance, integration, value};
use crate::integrations::db::testing::certs;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::{Buf, Bytes, BytesMut};
use dozor_testkit::kafka::Broker;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, FindCoordinatorResponse, MetadataResponse,
    ResponseHeader, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::{
    Decodable, Encodable, HeaderVersion, StrBytes, decode_request_header_from_buffer,
};
use ring::{digest, hmac, pbkdf2};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

/// The SASL user the front knows.
const USER: &str = "dozor";
const PASSWORD: &str = "pa55-w0rd-known-to-the-front";

/// What the front demands.
#[derive(Clone)]
struct Front {
    tls: Option<Arc<rustls::ServerConfig>>,
    /// The mechanism enabled, with `USER`/`PASSWORD`.
    sasl: Option<&'static str>,
    /// `session_lifetime_ms` answered to SaslAuthenticate v1 (0: none); a request after it
    /// ends closes the connection, as Kafka does (KIP-368).
    lifetime_ms: i64,
}

trait Io: Read + Write + Send {}
impl<T: Read + Write + Send> Io for T {}

/// Starts the front on a free port before `backend`; returns its port.
fn start(front: Front, backend: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { break };
            let (front, backend) = (front.clone(), backend.clone());
            std::thread::spawn(move || {
                let client: Box<dyn Io> = match &front.tls {
                    Some(config) => {
                        let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                        Box::new(rustls::StreamOwned::new(conn, client))
                    }
                    None => Box::new(client),
                };
                let _ = serve(client, &front, &backend, port);
            });
        }
    });
    port
}

fn read_frame(s: &mut dyn Read) -> std::io::Result<Bytes> {
    let mut size = [0u8; 4];
    s.read_exact(&mut size)?;
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut body)?;
    Ok(Bytes::from(body))
}

fn write_frame(s: &mut dyn Write, body: &[u8]) -> std::io::Result<()> {
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(body);
    s.write_all(&frame)?;
    s.flush()
}

/// A response frame body: header then message.
fn respond<M: Encodable>(id: i32, header_version: i16, msg: &M, version: i16) -> Vec<u8> {
    let mut out = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(id)
        .encode(&mut out, header_version)
        .unwrap();
    msg.encode(&mut out, version).unwrap();
    out.to_vec()
}

/// One client connection: SASL first when demanded, then frames forwarded to `backend`.
fn serve(mut client: Box<dyn Io>, front: &Front, backend: &str, port: u16) -> std::io::Result<()> {
    let mut upstream = TcpStream::connect(backend)?;
    let mut authenticated = front.sasl.is_none();
    let mut scram: Option<ScramServer> = None;
    let mut session_ends: Option<std::time::Instant> = None;
    loop {
        let frame = read_frame(&mut client)?;
        let mut body = frame.clone();
        let header = decode_request_header_from_buffer(&mut body).unwrap();
        let (key, version, id) = (
            header.request_api_key,
            header.request_api_version,
            header.correlation_id,
        );
        if key == ApiKey::SaslHandshake as i16 {
            let req = SaslHandshakeRequest::decode(&mut body, version).unwrap();
            let ok = Some(req.mechanism.as_str()) == front.sasl;
            let resp = SaslHandshakeResponse::default()
                .with_error_code(if ok { 0 } else { 33 })
                .with_mechanisms(
                    front
                        .sasl
                        .map(StrBytes::from_static_str)
                        .into_iter()
                        .collect(),
                );
            let hv = SaslHandshakeResponse::header_version(version);
            write_frame(&mut client, &respond(id, hv, &resp, version))?;
            continue;
        }
        if key == ApiKey::SaslAuthenticate as i16 {
            let req = SaslAuthenticateRequest::decode(&mut body, version).unwrap();
            let mechanism = front.sasl.expect("SASL demanded");
            let answer = if mechanism == "PLAIN" {
                let want = format!("\0{USER}\0{PASSWORD}");
                (req.auth_bytes.as_ref() == want.as_bytes()).then(Vec::new)
            } else {
                match scram.take() {
                    None => {
                        let s = ScramServer::first(mechanism, &req.auth_bytes);
                        let first = s.server_first.clone().into_bytes();
                        scram = Some(s);
                        Some(first)
                    }
                    Some(s) => s.last(&req.auth_bytes),
                }
            };
            let hv = SaslAuthenticateResponse::header_version(version);
            let resp = match &answer {
                Some(bytes) => SaslAuthenticateResponse::default()
                    .with_auth_bytes(Bytes::from(bytes.clone()))
                    .with_session_lifetime_ms(if version >= 1 { front.lifetime_ms } else { 0 }),
                // Kafka's own answer to wrong credentials, then it closes the connection.
                None => SaslAuthenticateResponse::default()
                    .with_error_code(58)
                    .with_error_message(Some(StrBytes::from_string(format!(
                        "Authentication failed during authentication due to invalid \
                         credentials with SASL mechanism {mechanism}"
                    )))),
            };
            write_frame(&mut client, &respond(id, hv, &resp, version))?;
            if answer.is_none() {
                return Ok(());
            }
            authenticated = scram.is_none();
            if authenticated && front.lifetime_ms > 0 {
                let life = std::time::Duration::from_millis(front.lifetime_ms as u64);
                session_ends = Some(std::time::Instant::now() + life);
            }
            continue;
        }
        if session_ends.is_some_and(|t| std::time::Instant::now() >= t) {
            // The session expired: Kafka closes the connection.
            return Ok(());
        }
        if !authenticated && key != ApiKey::ApiVersions as i16 {
            // Kafka drops a client that skips authentication.
            return Ok(());
        }
        write_frame(&mut upstream, &frame)?;
        let mut resp = read_frame(&mut upstream)?;
        let out = if key == ApiKey::ApiVersions as i16 {
            ResponseHeader::decode(&mut resp, 0).unwrap();
            let mut r = ApiVersionsResponse::decode(&mut resp, version).unwrap();
            if front.sasl.is_some() {
                r.api_keys.retain(|k| k.api_key != 17 && k.api_key != 36);
                for (k, hi) in [(17, 1), (36, 2)] {
                    r.api_keys.push(
                        ApiVersion::default()
                            .with_api_key(k)
                            .with_min_version(0)
                            .with_max_version(hi),
                    );
                }
            }
            respond(id, 0, &r, version)
        } else if key == ApiKey::Metadata as i16 {
            let hv = MetadataResponse::header_version(version);
            ResponseHeader::decode(&mut resp, hv).unwrap();
            let mut r = MetadataResponse::decode(&mut resp, version).unwrap();
            for b in &mut r.brokers {
                b.host = StrBytes::from_static_str("localhost");
                b.port = port as i32;
            }
            respond(id, hv, &r, version)
        } else if key == ApiKey::FindCoordinator as i16 {
            let hv = FindCoordinatorResponse::header_version(version);
            ResponseHeader::decode(&mut resp, hv).unwrap();
            let mut r = FindCoordinatorResponse::decode(&mut resp, version).unwrap();
            if r.node_id != BrokerId(-1) {
                r.host = StrBytes::from_static_str("localhost");
                r.port = port as i32;
            }
            respond(id, hv, &r, version)
        } else {
            resp.chunk().to_vec()
        };
        write_frame(&mut client, &out)?;
    }
}

/// The broker's side of SCRAM (RFC 5802) for `USER` with `PASSWORD`: it keeps only what a
/// broker stores (salt, iterations, StoredKey, ServerKey) and checks the client's proof against
/// StoredKey.
struct ScramServer {
    hmac: hmac::Algorithm,
    digest: &'static digest::Algorithm,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl ScramServer {
    fn first(mechanism: &str, client_first: &[u8]) -> ScramServer {
        let (hmac, pbkdf2, digest) = match mechanism {
            "SCRAM-SHA-256" => (
                hmac::HMAC_SHA256,
                pbkdf2::PBKDF2_HMAC_SHA256,
                &digest::SHA256,
            ),
            "SCRAM-SHA-512" => (
                hmac::HMAC_SHA512,
                pbkdf2::PBKDF2_HMAC_SHA512,
                &digest::SHA512,
            ),
            other => panic!("no SCRAM {other}"),
        };
        let text = std::str::from_utf8(client_first).unwrap();
        let bare = text
            .strip_prefix("n,,")
            .expect("no channel binding")
            .to_string();
        let (user, cnonce) = bare
            .strip_prefix("n=")
            .and_then(|r| r.split_once(",r="))
            .expect("n=user,r=nonce");
        assert_eq!(user, USER, "the user name is sent as is");
        let salt = b"salt-of-the-front";
        let iterations = 4096;
        let mut salted = vec![0u8; digest.output_len()];
        pbkdf2::derive(
            pbkdf2,
            std::num::NonZeroU32::new(iterations).unwrap(),
            salt,
            PASSWORD.as_bytes(),
            &mut salted,
        );
        let salted = hmac::Key::new(hmac, &salted);
        let client_key = hmac::sign(&salted, b"Client Key");
        let stored_key = digest::digest(digest, client_key.as_ref())
            .as_ref()
            .to_vec();
        let server_key = hmac::sign(&salted, b"Server Key").as_ref().to_vec();
        let nonce = format!("{cnonce}3rfcNHYJY1ZVvWVs7j");
        let server_first = format!("r={nonce},s={},i={iterations}", B64.encode(salt));
        ScramServer {
            hmac,
            digest,
            client_first_bare: bare,
            server_first,
            nonce,
            stored_key,
            server_key,
        }
    }

    /// The server-final message when the proof is right, `None` otherwise.
    fn last(&self, client_final: &[u8]) -> Option<Vec<u8>> {
        let text = std::str::from_utf8(client_final).unwrap();
        let (without_proof, proof) = text.rsplit_once(",p=").expect("a proof");
        assert_eq!(without_proof, format!("c=biws,r={}", self.nonce));
        let proof = B64.decode(proof).unwrap();
        let auth = format!(
            "{},{},{without_proof}",
            self.client_first_bare, self.server_first
        );
        let signature = hmac::sign(
            &hmac::Key::new(self.hmac, &self.stored_key),
            auth.as_bytes(),
        );
        let client_key: Vec<u8> = proof
            .iter()
            .zip(signature.as_ref())
            .map(|(p, s)| p ^ s)
            .collect();
        if digest::digest(self.digest, &client_key).as_ref() != self.stored_key.as_slice() {
            return None;
        }
        let v = hmac::sign(
            &hmac::Key::new(self.hmac, &self.server_key),
            auth.as_bytes(),
        );
        Some(format!("v={}", B64.encode(v.as_ref())).into_bytes())
    }
}

/// A rustls server configuration for the certificate and key files.
fn server_tls(cert: &std::path::Path, key: &std::path::Path) -> Arc<rustls::ServerConfig> {
    server_tls_with(cert, key, None)
}

/// The same, requiring a client certificate signed by the CA in `client_ca` when given.
fn server_tls_with(
    cert: &std::path::Path,
    key: &std::path::Path,
    client_ca: Option<&std::path::Path>,
) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca).unwrap() {
                roots.add(c.unwrap()).unwrap();
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    Arc::new(builder.with_single_cert(chain, key).unwrap())
}

/// The lag the test committed, read through the front.
fn assert_lag(s: &[dozor_metrics::sample::Sample], name: &str) {
    assert_eq!(value(s, "dozor.kafka.up", &[name]), Some(1.0));
    for p in 0..2 {
        assert_eq!(
            value(
                s,
                "kafka.consumer_group.lag",
                &[name, "g", "orders", &p.to_string()]
            ),
            Some((N[p] - M[p]) as f64),
            "partition {p}"
        );
    }
    assert_eq!(
        value(s, "kafka.consumer_group.lag_sum", &[name, "g", "orders"]),
        Some(((N[0] - M[0]) + (N[1] - M[1])) as f64)
    );
}

#[test]
fn tls_reads_exact_lag_and_names_the_setting_when_the_ca_or_the_name_is_wrong() {
    let broker = Broker::start();
    setup(&broker, super::lag::now_ms() - 3_600_000);
    let dir = tempfile::tempdir().unwrap();
    let good = certs(dir.path(), "kafka", &["localhost"]);
    let other = certs(dir.path(), "other", &["localhost"]);
    let front = Front {
        tls: Some(server_tls(&good.cert, &good.key)),
        sasl: None,
        lifetime_ms: 0,
    };
    let port = start(front, broker.bootstrap());
    let tls_instance = |name: &str, host: &str, ca: &std::path::Path| {
        let mut c = instance(name, &format!("{host}:{port}"));
        c.security_protocol = "SSL".into();
        c.ssl_ca_location = Some(ca.to_str().unwrap().into());
        c
    };

    // The right CA and the name in the certificate: exact lag, every connection over TLS.
    let mut k = integration(&tls_instance("tls", "localhost", &good.ca));
    let (s, result) = collect(&mut k);
    result.expect("collection through TLS succeeds");
    assert_lag(&s, "tls");

    // A CA that did not sign the broker's certificate.
    let mut k = integration(&tls_instance("badca", "localhost", &other.ca));
    let (s, result) = collect(&mut k);
    let e = result.unwrap_err();
    assert_eq!(e.kind, "tls", "{}", e.message);
    assert_eq!(value(&s, "dozor.kafka.up", &["badca"]), Some(0.0));
    for want in [
        "kafka instance badca",
        "is not signed by a CA in ssl.ca.location",
        other.ca.to_str().unwrap(),
        "set ssl.ca.location to the PEM file of the CA",
    ] {
        assert!(e.message.contains(want), "missing {want:?}: {}", e.message);
    }

    // Connected by an address the certificate does not carry.
    let mut k = integration(&tls_instance("badname", "127.0.0.1", &good.ca));
    let e = collect(&mut k).1.unwrap_err();
    assert_eq!(e.kind, "tls", "{}", e.message);
    for want in [
        "kafka instance badname",
        "not valid for the host name",
        "ssl.endpoint.identification.algorithm=none",
    ] {
        assert!(e.message.contains(want), "missing {want:?}: {}", e.message);
    }
    // ... which that setting accepts, the chain still checked.
    let mut c = tls_instance("noname", "127.0.0.1", &good.ca);
    c.ssl_endpoint_identification_algorithm = "none".into();
    let (s, result) = collect(&mut integration(&c));
    result.expect("the chain is good, the name is not checked");
    assert_lag(&s, "noname");

    // PLAINTEXT against the TLS listener: an error, not a hang past the deadline.
    let (_, result) = collect(&mut integration(&instance(
        "plain",
        &format!("localhost:{port}"),
    )));
    assert!(
        result.is_err(),
        "a PLAINTEXT client cannot talk to a TLS listener"
    );
}

fn sasl_instance(name: &str, port: u16, mechanism: &str, password: &str) -> super::InstanceConfig {
    let mut c = instance(name, &format!("localhost:{port}"));
    c.security_protocol = "SASL_PLAINTEXT".into();
    c.sasl_mechanism = Some(mechanism.into());
    c.sasl_username = Some(USER.into());
    c.sasl_password = Some(password.into());
    c
}

#[test]
fn sasl_plain_and_scram_read_exact_lag_and_wrong_passwords_are_auth_errors() {
    let broker = Broker::start();
    setup(&broker, super::lag::now_ms() - 3_600_000);
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let port = start(
            Front {
                tls: None,
                sasl: Some(mechanism),
                lifetime_ms: 0,
            },
            broker.bootstrap(),
        );
        let mut k = integration(&sasl_instance("sasl", port, mechanism, PASSWORD));
        let (s, result) = collect(&mut k);
        result.unwrap_or_else(|e| panic!("{mechanism}: {}", e.message));
        assert_lag(&s, "sasl");
        let requests = k.requests();
        assert!(
            requests.get("SaslHandshake") >= Some(&1),
            "{mechanism}: {requests:?}"
        );
        // PLAIN is one SaslAuthenticate round trip per connection, SCRAM two.
        let per_conn = if mechanism == "PLAIN" { 1 } else { 2 };
        assert_eq!(
            requests.get("SaslAuthenticate").copied(),
            requests.get("SaslHandshake").map(|h| h * per_conn),
            "{mechanism}: {requests:?}"
        );

        let wrong = "not-the-pa55word-zq";
        let config = sasl_instance("wrongpw", port, mechanism, wrong);
        let mut k = integration(&config);
        let (s, result) = collect(&mut k);
        let e = result.unwrap_err();
        assert_eq!(e.kind, "auth", "{mechanism}: {}", e.message);
        assert_eq!(value(&s, "dozor.kafka.up", &["wrongpw"]), Some(0.0));
        for want in [
            "kafka instance wrongpw",
            "SASL authentication to localhost:",
            "invalid credentials",
            "sasl.username",
            "sasl.password",
        ] {
            assert!(
                e.message.contains(want),
                "{mechanism}: missing {want:?}: {}",
                e.message
            );
        }
        for shown in [e.message.clone(), format!("{config:?}")] {
            assert!(
                !shown.contains(wrong),
                "{mechanism}: the password is shown: {shown}"
            );
        }
        // The next collection retries (and fails the same way, nothing cached).
        assert_eq!(collect(&mut k).1.unwrap_err().kind, "auth");
    }
    // A mechanism the listener does not enable.
    let port = start(
        Front {
            tls: None,
            sasl: Some("SCRAM-SHA-512"),
            lifetime_ms: 0,
        },
        broker.bootstrap(),
    );
    let e = collect(&mut integration(&sasl_instance(
        "mech", port, "PLAIN", PASSWORD,
    )))
    .1
    .unwrap_err();
    assert_eq!(e.kind, "auth", "{}", e.message);
    assert!(
        e.message.contains("does not enable sasl.mechanism PLAIN")
            && e.message.contains("SCRAM-SHA-512"),
        "{}",
        e.message
    );
}

#[test]
fn sasl_ssl_reads_exact_lag() {
    let broker = Broker::start();
    setup(&broker, super::lag::now_ms() - 3_600_000);
    let dir = tempfile::tempdir().unwrap();
    let c = certs(dir.path(), "kafka", &["localhost"]);
    let port = start(
        Front {
            tls: Some(server_tls(&c.cert, &c.key)),
            sasl: Some("SCRAM-SHA-256"),
            lifetime_ms: 0,
        },
        broker.bootstrap(),
    );
    let mut config = sasl_instance("both", port, "SCRAM-SHA-256", PASSWORD);
    config.security_protocol = "SASL_SSL".into();
    config.ssl_ca_location = Some(c.ca.to_str().unwrap().into());
    let (s, result) = collect(&mut integration(&config));
    result.expect("SASL_SSL succeeds");
    assert_lag(&s, "both");
}

#[test]
fn a_broker_requiring_a_client_certificate_gets_it_from_the_ssl_keys() {
    let broker = Broker::start();
    setup(&broker, super::lag::now_ms() - 3_600_000);
    let dir = tempfile::tempdir().unwrap();
    let server = certs(dir.path(), "kafka", &["localhost"]);
    // The client's certificate, from another CA that the broker trusts for clients.
    let client = certs(dir.path(), "client", &["dozor-agent"]);
    let port = start(
        Front {
            tls: Some(server_tls_with(&server.cert, &server.key, Some(&client.ca))),
            sasl: None,
            lifetime_ms: 0,
        },
        broker.bootstrap(),
    );
    let mut config = instance("mtls", &format!("localhost:{port}"));
    config.security_protocol = "SSL".into();
    config.ssl_ca_location = Some(server.ca.to_str().unwrap().into());

    // Without one: refused, and the message says which keys to set.
    let (s, result) = collect(&mut integration(&config));
    let e = result.unwrap_err();
    assert_eq!(e.kind, "tls", "{}", e.message);
    assert_eq!(value(&s, "dozor.kafka.up", &["mtls"]), Some(0.0));
    for want in [
        "kafka instance mtls",
        "ssl.certificate.location",
        "ssl.key.location",
    ] {
        assert!(e.message.contains(want), "missing {want:?}: {}", e.message);
    }

    // With it: exact lag.
    config.ssl_certificate_location = Some(client.cert.to_str().unwrap().into());
    config.ssl_key_location = Some(client.key.to_str().unwrap().into());
    let (s, result) = collect(&mut integration(&config));
    result.unwrap_or_else(|e| panic!("{}", e.message));
    assert_lag(&s, "mtls");
}

#[test]
fn a_tls_listener_that_never_answers_the_handshake_times_out_within_the_budget() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let held = std::thread::spawn(move || {
        let conns: Vec<_> = listener.incoming().take(1).collect();
        std::thread::sleep(std::time::Duration::from_secs(5));
        drop(conns);
    });
    let mut config = instance("mute", &format!("localhost:{}", addr.port()));
    config.security_protocol = "SSL".into();
    let mut k = super::super::Kafka::new(&config, std::time::Duration::from_secs(1));
    let start = std::time::Instant::now();
    let e = collect(&mut k).1.unwrap_err();
    assert!(start.elapsed() < std::time::Duration::from_secs(1));
    assert_eq!(e.kind, "timeout", "{}", e.message);
    assert!(
        e.message.contains("did not answer the TLS handshake"),
        "{}",
        e.message
    );
    drop(held);
}

#[test]
fn a_sasl_session_with_a_lifetime_is_renewed_before_the_broker_closes_it() {
    let broker = Broker::start();
    setup(&broker, super::lag::now_ms() - 3_600_000);
    let port = start(
        Front {
            tls: None,
            sasl: Some("SCRAM-SHA-256"),
            lifetime_ms: 1500,
        },
        broker.bootstrap(),
    );
    let mut k = integration(&sasl_instance("renew", port, "SCRAM-SHA-256", PASSWORD));
    let (s, result) = collect(&mut k);
    result.unwrap_or_else(|e| panic!("{}", e.message));
    assert_lag(&s, "renew");
    let first = k.requests().get("SaslHandshake").copied().unwrap_or(0);
    // Past the session's end: the next collection authenticates again instead of failing on a
    // connection the broker closes.
    std::thread::sleep(std::time::Duration::from_millis(1600));
    let (s, result) = collect(&mut k);
    result.unwrap_or_else(|e| panic!("{}", e.message));
    assert_lag(&s, "renew");
    assert!(
        k.requests().get("SaslHandshake").copied().unwrap_or(0) > first,
        "{:?}",
        k.requests()
    );
}
