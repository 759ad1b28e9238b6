//! SASL for the Kafka client: PLAIN (RFC 4616) and SCRAM-SHA-256/512 (RFC 5802, RFC 7677), the
//! bytes carried in `SaslAuthenticate` frames after `SaslHandshake` v1. HMAC, PBKDF2 and the
//! hashes are ring's (the one rustls links); nothing here is a hand-written primitive.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::{digest, hmac, pbkdf2};
use std::num::NonZeroU32;

/// A SASL mechanism, as `sasl.mechanism` spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl Mechanism {
    /// The values `sasl.mechanism` accepts.
    pub const NAMES: [&'static str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

    /// `name` as `sasl.mechanism` spells it (case-insensitive).
    pub fn parse(name: &str) -> Option<Mechanism> {
        match name.to_ascii_uppercase().as_str() {
            "PLAIN" => Some(Mechanism::Plain),
            "SCRAM-SHA-256" => Some(Mechanism::ScramSha256),
            "SCRAM-SHA-512" => Some(Mechanism::ScramSha512),
            _ => None,
        }
    }

    /// The name sent in `SaslHandshake`.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// The credentials of one instance. The password is never shown by `Debug`.
#[derive(Clone)]
pub struct Sasl {
    pub mechanism: Mechanism,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Sasl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sasl")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The PLAIN message: no authorization identity, the user name and the password.
pub fn plain(username: &str, password: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(username.len() + password.len() + 2);
    out.push(0);
    out.extend_from_slice(username.as_bytes());
    out.push(0);
    out.extend_from_slice(password.as_bytes());
    out
}

/// Why a SCRAM exchange failed. The texts never hold the password.
#[derive(Debug, PartialEq, Eq)]
pub enum ScramError {
    /// The server's message does not follow RFC 5802.
    Malformed(String),
    /// The server sent `e=<error>` in its final message.
    Server(String),
    /// The server's signature is not the one the password gives: it does not know the
    /// credentials (or someone is in the middle).
    BadServerSignature,
}

impl std::fmt::Display for ScramError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScramError::Malformed(m) => write!(f, "the broker's SCRAM message is malformed: {m}"),
            ScramError::Server(e) => write!(f, "the broker ended SCRAM with e={e}"),
            ScramError::BadServerSignature => f.write_str(
                "the broker's SCRAM signature does not match the password: it does not hold \
                 these credentials",
            ),
        }
    }
}

/// A SCRAM client exchange in progress.
pub struct Scram {
    algorithm: Algorithm,
    password: String,
    nonce: String,
    client_first_bare: String,
    /// `ServerSignature`, known after the client-final message.
    server_signature: Option<Vec<u8>>,
}

#[derive(Clone, Copy)]
struct Algorithm {
    hmac: hmac::Algorithm,
    pbkdf2: pbkdf2::Algorithm,
    digest: &'static digest::Algorithm,
}

impl Scram {
    /// Starts an exchange for `mechanism` (a SCRAM one) with a client nonce.
    pub fn new(mechanism: Mechanism, username: &str, password: &str, nonce: String) -> Scram {
        let algorithm = match mechanism {
            Mechanism::ScramSha512 => Algorithm {
                hmac: hmac::HMAC_SHA512,
                pbkdf2: pbkdf2::PBKDF2_HMAC_SHA512,
                digest: &digest::SHA512,
            },
            _ => Algorithm {
                hmac: hmac::HMAC_SHA256,
                pbkdf2: pbkdf2::PBKDF2_HMAC_SHA256,
                digest: &digest::SHA256,
            },
        };
        let user = username.replace('=', "=3D").replace(',', "=2C");
        Scram {
            algorithm,
            password: password.to_string(),
            client_first_bare: format!("n={user},r={nonce}"),
            nonce,
            server_signature: None,
        }
    }

    /// A random client nonce: 24 bytes, base64.
    pub fn nonce() -> String {
        let mut bytes = [0u8; 24];
        rand::fill(&mut bytes);
        B64.encode(bytes)
    }

    /// `client-first-message`: no channel binding, no authorization identity.
    pub fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// `client-final-message` for the server's `server-first-message`.
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, ScramError> {
        let server_first = std::str::from_utf8(server_first)
            .map_err(|_| ScramError::Malformed("server-first is not UTF-8".into()))?;
        if let Some(e) = attribute(server_first, 'e') {
            return Err(ScramError::Server(e.to_string()));
        }
        let nonce = attribute(server_first, 'r')
            .ok_or_else(|| ScramError::Malformed("server-first has no nonce (r=)".into()))?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(ScramError::Malformed(
                "server-first's nonce does not extend the client's".into(),
            ));
        }
        let salt = attribute(server_first, 's')
            .and_then(|s| B64.decode(s).ok())
            .ok_or_else(|| ScramError::Malformed("server-first has no base64 salt (s=)".into()))?;
        let iterations = attribute(server_first, 'i')
            .and_then(|i| i.parse::<u32>().ok())
            .and_then(NonZeroU32::new)
            .ok_or_else(|| ScramError::Malformed("server-first has no iteration count".into()))?;
        let a = self.algorithm;
        let mut salted = vec![0u8; a.digest.output_len()];
        pbkdf2::derive(
            a.pbkdf2,
            iterations,
            &salt,
            self.password.as_bytes(),
            &mut salted,
        );
        let salted = hmac::Key::new(a.hmac, &salted);
        let client_key = hmac::sign(&salted, b"Client Key");
        let stored_key = digest::digest(a.digest, client_key.as_ref());
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let client_signature = hmac::sign(
            &hmac::Key::new(a.hmac, stored_key.as_ref()),
            auth_message.as_bytes(),
        );
        let proof: Vec<u8> = client_key
            .as_ref()
            .iter()
            .zip(client_signature.as_ref())
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = hmac::sign(&salted, b"Server Key");
        let server_signature = hmac::sign(
            &hmac::Key::new(a.hmac, server_key.as_ref()),
            auth_message.as_bytes(),
        );
        self.server_signature = Some(server_signature.as_ref().to_vec());
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    /// Checks the server's `server-final-message`: its signature proves it knows the
    /// credentials.
    pub fn verify(&self, server_final: &[u8]) -> Result<(), ScramError> {
        let server_final = std::str::from_utf8(server_final)
            .map_err(|_| ScramError::Malformed("server-final is not UTF-8".into()))?;
        if let Some(e) = attribute(server_final, 'e') {
            return Err(ScramError::Server(e.to_string()));
        }
        let v = attribute(server_final, 'v')
            .and_then(|v| B64.decode(v).ok())
            .ok_or_else(|| ScramError::Malformed("server-final has no signature (v=)".into()))?;
        let want = self
            .server_signature
            .as_ref()
            .ok_or_else(|| ScramError::Malformed("server-final before server-first".into()))?;
        // Not secret (the server sent it), but compare in constant time all the same.
        let same =
            v.len() == want.len() && v.iter().zip(want).fold(0, |acc, (a, b)| acc | (a ^ b)) == 0;
        if same {
            Ok(())
        } else {
            Err(ScramError::BadServerSignature)
        }
    }
}

/// The value of attribute `name` in a SCRAM message (`a=value,b=value`).
fn attribute(message: &str, name: char) -> Option<&str> {
    message.split(',').find_map(|part| {
        let mut chars = part.chars();
        (chars.next() == Some(name) && chars.next() == Some('=')).then(|| &part[2..])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3: the SCRAM-SHA-256 example exchange, byte for byte.
    #[test]
    fn the_rfc_7677_exchange_is_reproduced() {
        let mut s = Scram::new(
            Mechanism::ScramSha256,
            "user",
            "pencil",
            "rOprNGfwEbeRWgbNEkqO".into(),
        );
        assert_eq!(s.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let client_final = s.client_final(server_first).unwrap();
        assert_eq!(
            String::from_utf8(client_final).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        s.verify(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        assert_eq!(
            s.verify(b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
            Err(ScramError::BadServerSignature)
        );
        assert_eq!(
            s.verify(b"e=invalid-proof"),
            Err(ScramError::Server("invalid-proof".into()))
        );
    }

    #[test]
    fn a_server_nonce_not_extending_the_clients_is_refused() {
        let mut s = Scram::new(Mechanism::ScramSha512, "u", "p", "abc".into());
        let e = s.client_final(b"r=xyz123,s=c2FsdA==,i=4096").unwrap_err();
        assert!(matches!(e, ScramError::Malformed(_)), "{e}");
    }

    #[test]
    fn plain_and_names() {
        assert_eq!(plain("u", "p"), b"\0u\0p");
        assert_eq!(
            Mechanism::parse("scram-sha-512"),
            Some(Mechanism::ScramSha512)
        );
        assert_eq!(Mechanism::parse("GSSAPI"), None);
        let s = Sasl {
            mechanism: Mechanism::Plain,
            username: "u".into(),
            password: "s3cret".into(),
        };
        assert!(!format!("{s:?}").contains("s3cret"));
    }
}
