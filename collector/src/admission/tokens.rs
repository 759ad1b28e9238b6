//! Agent tokens (`auth.tokens_file`): which bearer token belongs to which agent.
//!
//! Format: one `<agent> <token> [instance=<glob>|site=<glob> ...]` line per agent, fields
//! separated by spaces or tabs; blank lines and lines starting with `#` are ignored. The
//! optional fields bind the token to the identities it may speak for: a resource whose
//! `service.instance.id` matches none of the `instance=` globs (by default: exactly `<agent>`),
//! or whose `site` matches none of the `site=` globs (by default: any), is not stored, and its
//! points are counted as `foreign_identity`. `*` in a glob matches any run of characters, so
//! `gateway-1 <token> instance=ws-* site=plant-a` lets one relay speak for every workstation of
//! one site. An agent name is printable ASCII without spaces (at
//! most 128 bytes, as `dozor-agent`); a token is at least 16 printable ASCII characters. Two
//! agents may not share a token, nor one agent have two lines. Tokens are compared in constant
//! time and never logged.

use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;

const EXPECTED: &str = "expected \"<agent> <token> [instance=<glob>|site=<glob> ...]\"";

/// Shortest token accepted: 16 characters (e.g. `openssl rand -hex 16` makes 32).
pub const MIN_TOKEN_LEN: usize = 16;

/// Why a tokens file was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum TokensError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A line is not a valid `<agent> <token>` pair, or repeats an agent or a token.
    #[error("{path}:{line}: {error}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong (never the token itself).
        error: String,
    },
}

/// The identities one token may speak for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// Globs of `service.instance.id`; empty: exactly the agent's name.
    instances: Vec<String>,
    /// Globs of the `site` resource attribute; empty: any site.
    sites: Vec<String>,
}

impl Scope {
    /// True when a resource with these `service.instance.id` and `site` may be written by
    /// `agent`'s token. A resource naming no instance claims no one else's identity.
    pub fn allows(&self, agent: &str, instance: Option<&str>, site: Option<&str>) -> bool {
        let instance_ok = match instance {
            None => true,
            Some(i) if self.instances.is_empty() => i == agent,
            Some(i) => self.instances.iter().any(|g| glob(g, i)),
        };
        let site_ok =
            self.sites.is_empty() || site.is_some_and(|s| self.sites.iter().any(|g| glob(g, s)));
        instance_ok && site_ok
    }
}

/// `*` matches any run of characters, everything else itself.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The loaded tokens.
#[derive(Default)]
pub struct Tokens {
    pairs: Vec<(String, Vec<u8>, std::sync::Arc<Scope>)>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: a token must never reach a log.
        let names: Vec<&str> = self.pairs.iter().map(|(a, _, _)| a.as_str()).collect();
        f.debug_struct("Tokens").field("agents", &names).finish()
    }
}

impl Tokens {
    /// Parses the text of a tokens file; `path` only names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Tokens, TokensError> {
        let mut pairs: Vec<(String, Vec<u8>, std::sync::Arc<Scope>)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let err = |error: &str| TokensError::Line {
                path: path.to_path_buf(),
                line: i + 1,
                error: error.to_string(),
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_ascii_whitespace();
            let (Some(agent), Some(token)) = (fields.next(), fields.next()) else {
                return Err(err(EXPECTED));
            };
            let mut scope = Scope::default();
            for field in fields {
                match field.split_once('=') {
                    Some(("instance", g)) if !g.is_empty() => scope.instances.push(g.into()),
                    Some(("site", g)) if !g.is_empty() => scope.sites.push(g.into()),
                    _ => return Err(err(EXPECTED)),
                }
            }
            if !crate::delivery::valid_agent(agent) {
                return Err(err("invalid agent name"));
            }
            if token.len() < MIN_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(err(&format!(
                    "token of {agent} must be at least {MIN_TOKEN_LEN} printable characters"
                )));
            }
            if pairs.iter().any(|(a, _, _)| a == agent) {
                return Err(err(&format!("agent {agent} is listed twice")));
            }
            if let Some((other, _, _)) = pairs.iter().find(|(_, t, _)| t == token.as_bytes()) {
                return Err(err(&format!("agent {agent} has the same token as {other}")));
            }
            pairs.push((
                agent.to_string(),
                token.as_bytes().to_vec(),
                std::sync::Arc::new(scope),
            ));
        }
        Ok(Tokens { pairs })
    }

    /// Reads and parses `path`, warning when group or others may read it.
    pub fn load(path: &Path) -> Result<Tokens, TokensError> {
        let read = |source| TokensError::Read {
            path: path.to_path_buf(),
            source,
        };
        let text = std::fs::read_to_string(path).map_err(read)?;
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(read)?.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    file = %path.display(),
                    mode = format!("{:o}", mode & 0o777),
                    "Tokens file is readable by group or others; chmod 600 it."
                );
            }
        }
        Tokens::parse(path, &text)
    }

    /// Agents listed.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// True when no agent is listed (every request is then refused).
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The agent and the scope of the token `authorization` (`Bearer <token>`) carries. Every
    /// listed token is compared, each in constant time, so timing does not tell how much of a
    /// guess matched.
    pub fn find(&self, authorization: Option<&[u8]>) -> Option<(&str, &std::sync::Arc<Scope>)> {
        let token = authorization.and_then(bearer)?;
        let mut found = None;
        for (agent, t, scope) in &self.pairs {
            if bool::from(t.as_slice().ct_eq(token)) {
                found = Some((agent.as_str(), scope));
            }
        }
        found
    }
}

/// The token of an `authorization: Bearer <token>` value (scheme case-insensitive).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| rest.trim_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Tokens, String> {
        Tokens::parse(Path::new("tokens"), text).map_err(|e| e.to_string())
    }

    fn agent<'t>(t: &'t Tokens, authorization: Option<&[u8]>) -> Option<&'t str> {
        t.find(authorization).map(|(agent, _)| agent)
    }

    #[test]
    fn parses_and_matches() {
        let t = parse("# fleet\n\nweb-1 0123456789abcdef\ndb-1\tfedcba9876543210ff\n").unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(agent(&t, Some(b"Bearer 0123456789abcdef")), Some("web-1"));
        assert_eq!(agent(&t, Some(b"bearer fedcba9876543210ff")), Some("db-1"));
        assert_eq!(agent(&t, Some(b"Bearer 0123456789abcdeX")), None);
        assert_eq!(agent(&t, Some(b"Basic 0123456789abcdef")), None);
        assert_eq!(agent(&t, Some(b"Bearer ")), None);
        assert_eq!(agent(&t, None), None);
        assert!(!format!("{t:?}").contains("0123"));
    }

    #[test]
    fn rejects_bad_files_without_printing_tokens() {
        for (text, want) in [
            (
                "a 0123456789abcdef\nb 0123456789abcdef\n",
                "tokens:2: agent b has the same token as a",
            ),
            (
                "a 0123456789abcdef\na 1123456789abcdef\n",
                "tokens:2: agent a is listed twice",
            ),
            (
                "a short\n",
                "tokens:1: token of a must be at least 16 printable characters",
            ),
            ("a\n", &format!("tokens:1: {EXPECTED}")),
            ("a 0123456789abcdef c\n", &format!("tokens:1: {EXPECTED}")),
            (
                "a 0123456789abcdef instance=\n",
                &format!("tokens:1: {EXPECTED}"),
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(&e, want);
            assert!(!e.contains("0123456789abcdef"));
        }
    }

    #[test]
    fn a_token_speaks_for_its_agent_or_its_globs() {
        let t = parse(
            "web-1 0123456789abcdef\ngw 1123456789abcdef instance=ws-* instance=desk-?x site=plant-a\n",
        )
        .unwrap();
        let (agent, web) = t.find(Some(b"Bearer 0123456789abcdef")).unwrap();
        assert_eq!(agent, "web-1");
        assert!(web.allows("web-1", Some("web-1"), Some("any")));
        assert!(web.allows("web-1", None, None));
        assert!(!web.allows("web-1", Some("web-2"), None));
        let (agent, gw) = t.find(Some(b"Bearer 1123456789abcdef")).unwrap();
        assert!(gw.allows(agent, Some("ws-17"), Some("plant-a")));
        assert!(gw.allows(agent, Some("desk-?x"), Some("plant-a")));
        assert!(
            !gw.allows(agent, Some("gw"), Some("plant-a")),
            "globs replace the name"
        );
        assert!(!gw.allows(agent, Some("ws-17"), Some("plant-b")));
        assert!(!gw.allows(agent, Some("ws-17"), None));
    }

    #[test]
    fn globs() {
        for (g, t, want) in [
            ("ws-*", "ws-1", true),
            ("ws-*", "ws-", true),
            ("ws-*", "w", false),
            ("*-a", "plant-a", true),
            ("*-a", "plant-b", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "acb", false),
            ("a*a", "a", false),
            ("*", "", true),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ] {
            assert_eq!(glob(g, t), want, "{g} {t}");
        }
    }
}
