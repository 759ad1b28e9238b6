//! The flare's scrubber: what goes into the archive never carries a secret.
//!
//! - The configuration is taken as written, `${VAR}` references unexpanded (so a value that
//!   came from the environment is never in it; a `${VAR:-default}` loses its default), parsed,
//!   and every value under a secret key (`password`, `token`, `secret`, `key`, `credential`,
//!   `authorization`, and every value of a `headers` map) replaced by `<redacted>`; keys ending
//!   `_file` or `_env` keep their value (a path or a variable name: the file is never read).
//! - Every string, in the configuration and in every other part (logs, status, diagnose), loses
//!   URL passwords (`postgres://u:PASS@`, `mysql://`, `amqp://`, basic auth in any URL),
//!   `password=...`-style pairs of key/value DSNs and query strings, and the credentials after
//!   `Bearer` / `Basic`.
//! - The values it found ([`Scrubber::known`]: literal secrets in the configuration, the values
//!   of the variables it references, the exporter's `token_env`) are removed from every part
//!   wherever they appear.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use std::fmt;

/// What replaces a secret.
pub const REDACTED: &str = "<redacted>";

/// Removes secrets from text: the patterns above and every known secret value.
#[derive(Debug, Default)]
pub struct Scrubber {
    known: Vec<String>,
}

/// Shorter values are not treated as secrets by value (they would blank out ordinary words);
/// the patterns still catch them where they stand as passwords or tokens.
const MIN_KNOWN: usize = 4;

impl Scrubber {
    /// Adds a value to remove wherever it appears.
    pub fn know(&mut self, value: &str) {
        let value = value.trim();
        // `Bearer <token>`, `Basic <credentials>`: the credential may appear alone.
        if let Some((_, credential)) = value.split_once(' ')
            && !credential.contains(' ')
        {
            self.know(credential);
        }
        if value.len() >= MIN_KNOWN && !self.known.iter().any(|k| k == value) {
            self.known.push(value.to_string());
            // Longest first, so that a secret containing another is removed whole.
            self.known.sort_by_key(|k| std::cmp::Reverse(k.len()));
        }
    }

    /// The text without secrets.
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for k in &self.known {
            if out.contains(k.as_str()) {
                out = out.replace(k.as_str(), REDACTED);
            }
        }
        patterns(&out)
    }
}

/// Keys whose values are secrets (matched within the lower-cased key).
const SECRET_KEYS: [&str; 9] = [
    "password",
    "passwd",
    "token",
    "secret",
    "key",
    "credential",
    "authorization",
    "cookie",
    "private",
];

/// True for a key whose (scalar) value is a secret.
pub fn secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    if k.ends_with("_file") || k.ends_with("_env") || k.ends_with("_path") {
        return false;
    }
    SECRET_KEYS.iter().any(|s| k.contains(s))
}

/// The configuration file's text, scrubbed, as YAML; the values it found are added to
/// `scrubber`, with the values of the `${VAR}`s it references (looked up with `env`).
pub fn config(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    scrubber: &mut Scrubber,
) -> Result<String, String> {
    for var in references(text) {
        if let Some(v) = env(&var) {
            scrubber.know(&v);
        }
    }
    let mut node: Node =
        serde_saphyr::from_str(text).map_err(|e| format!("the file does not parse: {e}"))?;
    redact(&mut node, false, scrubber);
    let yaml = serde_saphyr::to_string(&node).map_err(|e| e.to_string())?;
    // A secret may have been found after a string holding it was scrubbed: once more.
    Ok(scrubber.text(&yaml))
}

/// The names of the `${VAR}`, `${VAR:-default}` and `${VAR:?message}` references in `text`.
fn references(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        rest = &rest[start + 2..];
        let end = rest.find(['}', ':']).unwrap_or(rest.len());
        let name = &rest[..end];
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.push(name.to_string());
        }
    }
    out
}

/// A YAML document with any scalar keys, in file order.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

/// Replaces secrets in place: `secret` when the key above says the value is one.
fn redact(node: &mut Node, secret: bool, scrubber: &mut Scrubber) {
    match node {
        Node::Map(entries) => {
            for (k, v) in entries {
                let headers = k.eq_ignore_ascii_case("headers");
                match v {
                    Node::Map(inner) if headers => {
                        for (_, hv) in inner {
                            redact(hv, true, scrubber);
                        }
                    }
                    _ => redact(v, secret_key(k), scrubber),
                }
            }
        }
        Node::Seq(items) => {
            for i in items {
                redact(i, secret, scrubber);
            }
        }
        Node::Str(s) if secret => {
            for d in defaults(s) {
                scrubber.know(&d);
            }
            // The reference is not the secret: keep `${VAR}` itself, drop a default.
            if !(s.starts_with("${") && s.ends_with('}') && !s.contains(":-")) {
                scrubber.know(s);
                *s = REDACTED.to_string();
            }
        }
        Node::Int(_) | Node::Float(_) | Node::Bool(_) if secret => {
            *node = Node::Str(REDACTED.to_string());
        }
        Node::Str(s) => {
            for found in url_passwords(s)
                .into_iter()
                .chain(pair_values(s))
                .chain(defaults(s))
            {
                scrubber.know(&found);
            }
            *s = drop_defaults(&patterns(s));
        }
        _ => {}
    }
}

/// `${VAR:-default}` → `${VAR:-<redacted>}`: a default is a literal that may be a secret.
fn drop_defaults(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail.find('}').map_or(tail.len(), |e| e + 1);
        let reference = &tail[..end];
        match reference.find(":-") {
            Some(d) => {
                out.push_str(&reference[..d + 2]);
                out.push_str(REDACTED);
                out.push('}');
            }
            None => out.push_str(reference),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// The defaults of the `${VAR:-default}` references in `s`: a literal that may be the value
/// used, so every other part loses it too.
fn defaults(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        let tail = &rest[i..];
        let end = tail.find('}').unwrap_or(tail.len());
        if let Some(d) = tail[..end].find(":-") {
            out.push(tail[d + 2..end].to_string());
        }
        rest = &tail[end..];
    }
    out
}

/// The values [`patterns`] removes after `password=`, `Bearer ` and the like.
fn pair_values(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lower = s.to_ascii_lowercase();
    for marker in PAIRS.iter().chain(&["bearer ", "basic "]) {
        let mut pos = 0;
        while let Some(found) = lower[pos..].find(marker) {
            let start = pos + found + marker.len();
            let len = s[start..]
                .find(|c: char| c.is_whitespace() || "&;,\"'}]".contains(c))
                .unwrap_or(s.len() - start);
            let value = &s[start..start + len];
            if !value.is_empty() && !value.starts_with("${") && value != REDACTED {
                out.push(value.to_string());
            }
            pos = start + len;
            if pos >= s.len() {
                break;
            }
        }
    }
    out
}

/// The passwords in URLs in `s` (`scheme://user:PASS@host`).
fn url_passwords(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        let after = &rest[i + 3..];
        let end = after
            .find(|c: char| c.is_whitespace() || "/\"'<>,".contains(c))
            .unwrap_or(after.len());
        let authority = &after[..end];
        if let Some(at) = authority.rfind('@')
            && let Some((_, pass)) = authority[..at].split_once(':')
            && !pass.is_empty()
            && pass != REDACTED
            // A reference is not the secret (its value is never expanded here).
            && !pass.starts_with("${")
        {
            out.push(pass.to_string());
        }
        rest = &after[end..];
    }
    out
}

/// Pairs whose value is a secret in key/value DSNs, query strings and log fields.
const PAIRS: [&str; 10] = [
    "password=",
    "passwd=",
    "pwd=",
    "token=",
    "secret=",
    "access_token=",
    "api_key=",
    "apikey=",
    "password:",
    "token:",
];

/// Removes URL passwords, secret pairs and `Bearer`/`Basic` credentials from `text`.
pub fn patterns(text: &str) -> String {
    let mut out = text.to_string();
    for pass in url_passwords(&out) {
        out = out.replace(&format!(":{pass}@"), &format!(":{REDACTED}@"));
    }
    for marker in PAIRS {
        out = after_marker(&out, marker, |c| {
            c.is_whitespace() || "&;,\"'}]".contains(c)
        });
    }
    for marker in ["bearer ", "basic "] {
        out = after_marker(&out, marker, |c| c.is_whitespace() || "\"',;}]".contains(c));
    }
    out
}

/// Replaces the value after each (case-insensitive) `marker` up to `stop` by [`REDACTED`].
fn after_marker(text: &str, marker: &str, stop: impl Fn(char) -> bool) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(found) = lower[pos..].find(marker) {
        let start = pos + found + marker.len();
        // Only at a word start: `xpassword=` is another key.
        let boundary = pos + found == 0
            || !text[..pos + found]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        out.push_str(&text[pos..start]);
        let value_len = text[start..].find(&stop).unwrap_or(text.len() - start);
        let value = &text[start..start + value_len];
        let value = value.trim_start();
        let leading = text[start..start + value_len].len() - value.len();
        if boundary
            && !value.is_empty()
            && value != REDACTED
            && !value.starts_with("${")
            && !value.starts_with(REDACTED)
        {
            out.push_str(&text[start..start + leading]);
            out.push_str(REDACTED);
        } else {
            out.push_str(&text[start..start + value_len]);
        }
        pos = start + value_len;
    }
    out.push_str(&text[pos..]);
    out
}

impl<'de> serde::Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        serde::Deserialize::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut out = Vec::new();
        while let Some(n) = seq.next_element()? {
            out.push(n);
        }
        Ok(Node::Seq(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut out = Vec::new();
        while let Some((k, v)) = map.next_entry::<Node, Node>()? {
            let key = match k {
                Node::Str(s) => s,
                Node::Int(i) => i.to_string(),
                Node::Float(f) => f.to_string(),
                Node::Bool(b) => b.to_string(),
                Node::Null => "~".into(),
                _ => return Err(de::Error::custom("a mapping or sequence as a key")),
            };
            out.push((key, v));
        }
        Ok(Node::Map(out))
    }
}

impl serde::Serialize for Node {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Null => s.serialize_unit(),
            Node::Bool(b) => s.serialize_bool(*b),
            Node::Int(i) => s.serialize_i128(*i),
            Node::Float(f) => s.serialize_f64(*f),
            Node::Str(v) => s.serialize_str(v),
            Node::Seq(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    seq.serialize_element(i)?;
                }
                seq.end()
            }
            Node::Map(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub(yaml: &str, env: &[(&str, &str)]) -> (String, Scrubber) {
        let mut s = Scrubber::default();
        let lookup = |k: &str| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        let out = config(yaml, &lookup, &mut s).unwrap_or_else(|e| panic!("{e}"));
        (out, s)
    }

    #[test]
    fn dsn_passwords_go_user_and_host_stay() {
        for (dsn, secret) in [
            (
                "postgres://dozor:pg-Secret-1@db.plant:5432/shop",
                "pg-Secret-1",
            ),
            ("postgresql://dozor:p%40ss@db/x?sslmode=require", "p%40ss"),
            ("mysql://root:my-Secret-2@127.0.0.1:3306/mes", "my-Secret-2"),
            ("amqp://guest:mq-Secret-3@rabbit:5672/", "mq-Secret-3"),
            (
                "host=db user=dozor password=kv-Secret-4 dbname=shop",
                "kv-Secret-4",
            ),
        ] {
            let (out, _) = scrub(&format!("integrations:\n  x:\n    dsn: \"{dsn}\"\n"), &[]);
            assert!(!out.contains(secret), "{secret} in:\n{out}");
            assert!(
                out.contains("dozor") || out.contains("root") || out.contains("guest"),
                "{out}"
            );
            assert!(out.contains(REDACTED), "{out}");
        }
    }

    #[test]
    fn secret_keys_headers_and_basic_auth() {
        let yaml = "a:\n  password: pw-Secret-5\n  api_key: ak-Secret-6\n  client_secret: cs-Secret-7\n  token_file: /etc/dozor/token\n  token_env: DOZOR_TOKEN\n  headers:\n    X-Custom: hv-Secret-8\n    Authorization: Bearer bt-Secret-9\n  url: https://user:ba-Secret-10@mes.plant/api\n  name: shop\n  port: 5432\n  probes: [{name: p, http: {url: http://h, bearer_token: inline-Secret-11}}]\n";
        let (out, s) = scrub(yaml, &[]);
        for secret in [
            "pw-Secret-5",
            "ak-Secret-6",
            "cs-Secret-7",
            "hv-Secret-8",
            "bt-Secret-9",
            "ba-Secret-10",
            "inline-Secret-11",
        ] {
            assert!(!out.contains(secret), "{secret} in:\n{out}");
            assert!(
                s.known.iter().any(|k| k.contains(secret)),
                "{secret} not known"
            );
        }
        for kept in [
            "/etc/dozor/token",
            "DOZOR_TOKEN",
            "shop",
            "5432",
            "mes.plant",
            "X-Custom",
        ] {
            assert!(out.contains(kept), "{kept} missing in:\n{out}");
        }
    }

    #[test]
    fn env_values_never_appear_and_defaults_are_dropped() {
        let yaml = "x:\n  dsn: postgres://u:${PG_PASS}@db/x\n  password: ${MQ_PASS:-default-Secret-12}\n  host: ${HOST_NAME}\n";
        let (out, s) = scrub(
            yaml,
            &[("PG_PASS", "env-Secret-13"), ("HOST_NAME", "env-host-14")],
        );
        assert!(!out.contains("default-Secret-12"), "{out}");
        assert!(
            out.contains("${PG_PASS}") && out.contains("${HOST_NAME}"),
            "{out}"
        );
        // Other parts (logs) lose the values of every referenced variable.
        let log = "connecting with env-Secret-13 to env-host-14";
        let clean = s.text(log);
        assert!(
            !clean.contains("env-Secret-13") && !clean.contains("env-host-14"),
            "{clean}"
        );
    }

    /// Regression: found by the flare test, each of these reached the log part by value.
    #[test]
    fn values_found_in_the_config_leave_every_other_part() {
        let yaml = "a:\n  dsn: host=db user=u password=kv-Secret-17\n  headers:\n    Authorization: Bearer bt-Secret-18\n  password: \"${X_UNSET:-default-Secret-19}\"\n";
        let (out, s) = scrub(yaml, &[]);
        for secret in ["kv-Secret-17", "bt-Secret-18", "default-Secret-19"] {
            assert!(!out.contains(secret), "{secret} in:\n{out}");
            let log = format!("detail=\"{secret}\"");
            assert!(
                !s.text(&log).contains(secret),
                "{secret} in {}",
                s.text(&log)
            );
        }
    }

    #[test]
    fn text_patterns() {
        for (text, secret) in [
            ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
            ("authorization: basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
            ("GET /x?access_token=qq-Secret-15&x=1", "qq-Secret-15"),
            (
                "error=\"connect postgres://a:zz-Secret-16@h/db\"",
                "zz-Secret-16",
            ),
            ("password=hello world", "hello"),
        ] {
            let out = patterns(text);
            assert!(!out.contains(secret), "{secret} in {out}");
            assert!(out.contains(REDACTED), "{out}");
        }
        // Ordinary text is untouched.
        let plain = "Batch appended. seq=12 points=40 keyfile=/x";
        assert_eq!(patterns(plain), plain);
    }

    #[test]
    fn integer_keys_and_unparsable_files() {
        let (out, _) = scrub(
            "integrations:\n  http_capture:\n    services: {8080: shop}\n",
            &[],
        );
        assert!(out.contains("8080") && out.contains("shop"), "{out}");
        let mut s = Scrubber::default();
        assert!(config("a: [unclosed", &|_| None, &mut s).is_err());
    }

    #[test]
    fn short_values_are_not_known() {
        let mut s = Scrubber::default();
        s.know("ab");
        s.know("long-enough");
        assert_eq!(s.text("ab long-enough"), format!("ab {REDACTED}"));
    }
}
