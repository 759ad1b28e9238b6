//! Agent tokens (`auth.tokens_file`): which bearer token belongs to which agent.
//!
//! Format: one `<agent> <token>` pair a line, separated by spaces or tabs; blank lines and
//! lines starting with `#` are ignored. An agent name is printable ASCII without spaces (at
//! most 128 bytes, as `dozor-agent`); a token is at least 16 printable ASCII characters. Two
//! agents may not share a token, nor one agent have two lines. Tokens are compared in constant
//! time and never logged.

use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;

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

/// The loaded tokens.
#[derive(Default)]
pub struct Tokens {
    pairs: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: a token must never reach a log.
        let names: Vec<&str> = self.pairs.iter().map(|(a, _)| a.as_str()).collect();
        f.debug_struct("Tokens").field("agents", &names).finish()
    }
}

impl Tokens {
    /// Parses the text of a tokens file; `path` only names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Tokens, TokensError> {
        let mut pairs: Vec<(String, Vec<u8>)> = Vec::new();
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
            let (Some(agent), Some(token), None) = (fields.next(), fields.next(), fields.next())
            else {
                return Err(err("expected \"<agent> <token>\""));
            };
            if !crate::delivery::valid_agent(agent) {
                return Err(err("invalid agent name"));
            }
            if token.len() < MIN_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(err(&format!(
                    "token of {agent} must be at least {MIN_TOKEN_LEN} printable characters"
                )));
            }
            if pairs.iter().any(|(a, _)| a == agent) {
                return Err(err(&format!("agent {agent} is listed twice")));
            }
            if let Some((other, _)) = pairs.iter().find(|(_, t)| t == token.as_bytes()) {
                return Err(err(&format!("agent {agent} has the same token as {other}")));
            }
            pairs.push((agent.to_string(), token.as_bytes().to_vec()));
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

    /// The agent whose token `authorization` (`Bearer <token>`) carries. Every listed token is
    /// compared, each in constant time, so timing does not tell how much of a guess matched.
    pub fn agent(&self, authorization: Option<&[u8]>) -> Option<&str> {
        let token = authorization.and_then(bearer)?;
        let mut found = None;
        for (agent, t) in &self.pairs {
            if bool::from(t.as_slice().ct_eq(token)) {
                found = Some(agent.as_str());
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

    #[test]
    fn parses_and_matches() {
        let t = parse("# fleet\n\nweb-1 0123456789abcdef\ndb-1\tfedcba9876543210ff\n").unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t.agent(Some(b"Bearer 0123456789abcdef")), Some("web-1"));
        assert_eq!(t.agent(Some(b"bearer fedcba9876543210ff")), Some("db-1"));
        assert_eq!(t.agent(Some(b"Bearer 0123456789abcdeX")), None);
        assert_eq!(t.agent(Some(b"Basic 0123456789abcdef")), None);
        assert_eq!(t.agent(Some(b"Bearer ")), None);
        assert_eq!(t.agent(None), None);
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
            ("a\n", "tokens:1: expected \"<agent> <token>\""),
            ("a b c\n", "tokens:1: expected \"<agent> <token>\""),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e, want);
            assert!(!e.contains("0123456789abcdef"));
        }
    }
}
