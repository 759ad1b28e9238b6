//! TLS against a throw-away `nats-server --tls` with a certificate signed by a CA the test makes:
//! refused without `tls`, refused with an unknown CA, exact figures with the right CA.

use super::*;
use dozor_testkit::{Proc, free_port, tool, wait_for};
use std::process::Command;

/// A CA and a certificate for `localhost` and 127.0.0.1 in `dir`: (ca, cert, key) paths.
fn certs(dir: &std::path::Path) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let path = |n: &str| dir.join(n).to_str().unwrap().to_string();
    std::fs::write(path("ca.pem"), ca.pem()).unwrap();
    std::fs::write(path("cert.pem"), cert.pem()).unwrap();
    std::fs::write(path("key.pem"), key.serialize_pem()).unwrap();
    (path("ca.pem"), path("cert.pem"), path("key.pem"))
}

#[test]
fn tls_needs_the_setting_and_the_right_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certs(dir.path());
    let port = free_port();
    let store = dir.path().join("js");
    let mut cmd = Command::new(tool("nats-server", "nats-server"));
    cmd.args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(&store)
        .args(["--tls", "--tlscert", &cert, "--tlskey", &key]);
    let _server = Proc::spawn(&format!("nats-tls-{port}"), dir.path(), &mut cmd);
    wait_for(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .expect("nats-server listening");
    let address = format!("127.0.0.1:{port}");

    let mut cfg = instance("secure", &address);
    let e = collect(&mut Nats::new(&cfg, TIMEOUT).unwrap())
        .1
        .unwrap_err();
    assert_eq!(e.kind, "tls", "{e}");
    assert!(e.message.contains("set tls: true"), "{e}");

    // The system's CAs do not know the test's CA.
    cfg.tls = true;
    let e = collect(&mut Nats::new(&cfg, TIMEOUT).unwrap())
        .1
        .unwrap_err();
    assert_eq!(e.kind, "tls", "{e}");
    assert!(e.message.contains("UnknownIssuer"), "{e}");
    assert!(e.message.contains("set tls_ca_file"), "{e}");

    cfg.tls_ca_file = Some(ca);
    let tls = cfg.tls().unwrap();
    let mut js =
        JsClient(Client::connect(&address, &Auth::default(), tls.as_ref(), TIMEOUT).unwrap());
    js.create_stream("SECURE");
    js.publish("SECURE", 3);
    let mut n = Nats::new(&cfg, TIMEOUT).unwrap();
    let (got, result) = collect(&mut n);
    result.unwrap();
    assert_eq!(value(&got, "dozor.nats.up", &[]), Some(1.0));
    assert_eq!(
        value(&got, "dozor.nats.stream.messages", &["SECURE"]),
        Some(3.0)
    );
}
