//! Test helpers of the database integrations: one `integrations.<name>` section loaded from YAML
//! text as the agent loads it (positions, unknown keys, every problem at once), without the
//! rest of the agent config; and certificates made for a test.

use crate::integrations::Section;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(bound = "C: DeserializeOwned")]
struct Root<C> {
    integrations: BTreeMap<String, C>,
}

impl<C: Section> dozor_config::Validate for Root<C> {
    fn validate(&self, v: &mut dozor_config::Validator) {
        for (name, section) in &self.integrations {
            section.validate(&mut v.at(format!("integrations.{name}")));
        }
    }
}

/// Loads `text` (`integrations:` with one section) as `agent.yaml`; the error is every problem,
/// one per line.
pub fn load<C: Section + DeserializeOwned>(text: &str) -> Result<C, String> {
    dozor_config::load_str::<Root<C>>("agent.yaml", text, &|_| None)
        .map(|r| r.integrations.into_values().next().expect("one section"))
        .map_err(|e| e.to_string())
}

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
