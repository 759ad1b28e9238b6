//! Request targets to bounded routes: `/orders/4711/items?page=2` becomes `/orders/{id}/items`.
//!
//! In order: a configured pattern (`/orders/{id}`) or a path of an imported OpenAPI file that
//! matches the path (the one with the most literal segments wins, then the first listed); else,
//! with `auto_template` (the default), the path with numeric, UUID and long hexadecimal segments
//! replaced by `{id}`, `{uuid}` and `{hex}`; else the path as it is. The query and fragment never
//! reach a route, an absolute target (`http://host/p`, as proxies receive) keeps only its path,
//! and a route is at most [`MAX_ROUTE_LEN`] bytes. Whatever comes out, the series budget of
//! [`crate::Red`] bounds how many routes are kept.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The longest route kept, bytes; longer paths are cut at a character boundary.
pub const MAX_ROUTE_LEN: usize = 256;

/// How request targets become routes: the `routes` key of every HTTP RED source.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default, deny_unknown_fields)]
pub struct RoutesConfig {
    /// Route patterns, `{name}` standing for one path segment: `/orders/{id}`,
    /// `/api/v1/orders/{id}/cost`. Tried before the OpenAPI paths.
    pub patterns: Vec<String>,
    /// OpenAPI 3 (or Swagger 2) files, JSON or YAML, whose `paths` become patterns, prefixed
    /// with the path of the first `servers` URL (or Swagger's `basePath`).
    pub openapi: Vec<PathBuf>,
    /// Replace numeric, UUID and hexadecimal (8 or more hex digits, at least one a digit) path
    /// segments of paths no pattern matches with `{id}`, `{uuid}` and `{hex}`.
    pub auto_template: bool,
    /// The longest a request on a route is expected to run, by route (`/orders/{id}/cost:
    /// 45m`): exported as `dozor.http.route.limit` for the alert on requests running longer.
    pub limits: BTreeMap<String, dozor_config::Duration>,
}

impl Default for RoutesConfig {
    fn default() -> Self {
        RoutesConfig {
            patterns: Vec::new(),
            openapi: Vec::new(),
            auto_template: true,
            limits: BTreeMap::new(),
        }
    }
}

/// Why the routes could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RoutesError {
    /// A pattern that is not a path of segments and `{name}` placeholders.
    #[error("pattern {pattern:?}: {why}")]
    Pattern {
        /// The pattern as configured.
        pattern: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// An OpenAPI file that could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An OpenAPI file that is neither JSON nor YAML with a `paths` map.
    #[error("{path}: {why}")]
    OpenApi {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
enum Segment {
    Literal(String),
    Param,
}

#[derive(Clone, Debug)]
struct Pattern {
    route: String,
    segments: Vec<Segment>,
    literals: usize,
}

impl Pattern {
    fn parse(route: &str) -> Result<Pattern, RoutesError> {
        let bad = |why| RoutesError::Pattern {
            pattern: route.to_string(),
            why,
        };
        if !route.starts_with('/') {
            return Err(bad("must start with /"));
        }
        if route.len() > MAX_ROUTE_LEN {
            return Err(bad("is longer than 256 bytes"));
        }
        if route.contains(['?', '#']) {
            return Err(bad("must be a path without query or fragment"));
        }
        let mut segments = Vec::new();
        for seg in route[1..].split('/') {
            if seg.starts_with('{') && seg.ends_with('}') && seg.len() > 2 {
                if seg[1..seg.len() - 1].contains(['{', '}']) {
                    return Err(bad("a placeholder is {name}, one per segment"));
                }
                segments.push(Segment::Param);
            } else if seg.contains(['{', '}']) {
                return Err(bad("a placeholder is a whole segment: /orders/{id}"));
            } else {
                segments.push(Segment::Literal(seg.to_string()));
            }
        }
        let literals = segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        Ok(Pattern {
            route: route.to_string(),
            segments,
            literals,
        })
    }

    fn matches(&self, segments: &[&str]) -> bool {
        self.segments.len() == segments.len()
            && self.segments.iter().zip(segments).all(|(p, s)| match p {
                Segment::Literal(l) => l == s,
                Segment::Param => !s.is_empty(),
            })
    }
}

/// The compiled route rules.
#[derive(Clone, Debug)]
pub struct Routes {
    patterns: Vec<Pattern>,
    auto_template: bool,
    limits: Vec<(String, f64)>,
}

impl Routes {
    /// Compiles the patterns and reads the OpenAPI files.
    pub fn new(cfg: &RoutesConfig) -> Result<Routes, RoutesError> {
        let mut patterns = Vec::new();
        for p in &cfg.patterns {
            patterns.push(Pattern::parse(p)?);
        }
        for file in &cfg.openapi {
            for p in crate::openapi::paths(file)? {
                patterns.push(Pattern::parse(&p)?);
            }
        }
        // Most literal segments first; the sort is stable, so configured order breaks ties.
        patterns.sort_by_key(|p| std::cmp::Reverse(p.literals));
        Ok(Routes {
            patterns,
            auto_template: cfg.auto_template,
            limits: cfg
                .limits
                .iter()
                .map(|(r, d)| (r.clone(), d.0.as_secs_f64()))
                .collect(),
        })
    }

    /// The route of a request target.
    pub fn route(&self, target: &str) -> String {
        let path = path_of(target);
        if path == "*" {
            return "*".into();
        }
        let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
        if let Some(p) = self.patterns.iter().find(|p| p.matches(&segments)) {
            return p.route.clone();
        }
        let mut route = String::with_capacity(path.len());
        for seg in &segments {
            route.push('/');
            route.push_str(match self.auto_template {
                true => template(seg).unwrap_or(seg),
                false => seg,
            });
        }
        truncate(&mut route, MAX_ROUTE_LEN);
        route
    }

    /// The configured limit of a route, seconds.
    pub fn limit(&self, route: &str) -> Option<f64> {
        self.limits
            .iter()
            .find(|(r, _)| r == route)
            .map(|(_, l)| *l)
    }

    /// Every configured limit: route and seconds.
    pub fn limits(&self) -> &[(String, f64)] {
        &self.limits
    }
}

/// The path of a target: without query and fragment, without scheme and authority.
fn path_of(target: &str) -> &str {
    let target = target.split(['?', '#']).next().unwrap_or("");
    let target = match target.find("://") {
        Some(i) => match target[i + 3..].find('/') {
            Some(j) => &target[i + 3 + j..],
            None => "/",
        },
        None => target,
    };
    if target.is_empty() { "/" } else { target }
}

/// The placeholder of a segment that looks like an identifier.
fn template(seg: &str) -> Option<&'static str> {
    let b = seg.as_bytes();
    if !b.is_empty() && b.iter().all(u8::is_ascii_digit) {
        return Some("{id}");
    }
    let uuid = b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
    if uuid {
        return Some("{uuid}");
    }
    if b.len() >= 8 && b.iter().all(u8::is_ascii_hexdigit) && b.iter().any(u8::is_ascii_digit) {
        return Some("{hex}");
    }
    None
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(patterns: &[&str], auto: bool) -> Routes {
        Routes::new(&RoutesConfig {
            patterns: patterns.iter().map(|p| p.to_string()).collect(),
            auto_template: auto,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn patterns_then_templates_then_the_path() {
        let r = routes(&["/orders/{id}", "/orders/open", "/orders/{id}/cost"], true);
        let cases = [
            ("/orders/4711", "/orders/{id}"),
            // The literal pattern wins over the placeholder, whatever the configured order.
            ("/orders/open", "/orders/open"),
            ("/orders/A-17/cost?x=1", "/orders/{id}/cost"),
            // An empty segment is not an id.
            ("/orders/", "/orders/"),
            ("/customers/123/invoices/9", "/customers/{id}/invoices/{id}"),
            ("/t/550e8400-e29b-41d4-a716-446655440000", "/t/{uuid}"),
            ("/blob/3fa85f64c0ffee01", "/blob/{hex}"),
            ("/blob/deadbeef", "/blob/deadbeef"),
            ("/v2/items", "/v2/items"),
            ("http://mes:8080/jobs/12?x", "/jobs/{id}"),
            ("http://mes:8080", "/"),
            ("", "/"),
            ("*", "*"),
            ("/a#frag", "/a"),
        ];
        for (target, want) in cases {
            assert_eq!(r.route(target), want, "{target}");
        }
        assert_eq!(routes(&[], false).route("/orders/12?a"), "/orders/12");
    }

    #[test]
    fn long_paths_are_cut_at_a_character_boundary() {
        let long = format!("/{}", "ж".repeat(300));
        let route = routes(&[], true).route(&long);
        assert!(route.len() <= MAX_ROUTE_LEN && route.starts_with("/ж"));
    }

    #[test]
    fn bad_patterns_are_named() {
        for (bad, why) in [
            ("orders", "must start with /"),
            ("/orders/{id", "a placeholder is a whole segment"),
            ("/orders/x{id}", "a placeholder is a whole segment"),
            ("/orders?x", "without query"),
        ] {
            let err = Routes::new(&RoutesConfig {
                patterns: vec![bad.into()],
                ..Default::default()
            })
            .unwrap_err()
            .to_string();
            assert!(err.contains(why) && err.contains(bad), "{bad}: {err}");
        }
    }
}
