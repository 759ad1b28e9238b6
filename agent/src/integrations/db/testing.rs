//! Test helpers of the integrations that speak TLS: certificates made for a test.

/// Certificate files made for a test: a CA, and a certificate for some names signed by it.
pub struct Certs {
    /// The CA certificate (PEM).
    pub ca: std::path::PathBuf,
    /// The certificate (PEM).
    pub cert: std::path::PathBuf,
    /// Its private key (PEM, PKCS#8).
    pub key: std::path::PathBuf,
}

/// Makes a fresh CA and a certificate for `names` in `dir`, its files prefixed with `prefix`.
pub fn certs(dir: &std::path::Path, prefix: &str, names: &[&str]) -> Certs {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("dozor test CA {prefix}"));
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let cert = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let out = Certs {
        ca: dir.join(format!("{prefix}-ca.pem")),
        cert: dir.join(format!("{prefix}-cert.pem")),
        key: dir.join(format!("{prefix}-key.pem")),
    };
    std::fs::write(&out.ca, ca.pem()).unwrap();
    std::fs::write(&out.cert, cert.pem()).unwrap();
    std::fs::write(&out.key, key.serialize_pem()).unwrap();
    out
}
