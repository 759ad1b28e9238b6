//! Which entities (queues, streams, consumers, keys) an integration reports: the `include` and
//! `exclude` regular expressions of its configuration. Like every pattern of the agent
//! ([`RegexPattern`]) they are not anchored: write `^` and `$` to match whole names.

use dozor_config::RegexPattern;
use regex::Regex;

/// An `include` and an `exclude` pattern; either may be absent.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    include: Option<Regex>,
    exclude: Option<Regex>,
}

impl Filter {
    /// The filter of two configured patterns.
    pub fn new(include: &Option<RegexPattern>, exclude: &Option<RegexPattern>) -> Filter {
        Filter {
            include: include.as_ref().map(|p| p.0.clone()),
            exclude: exclude.as_ref().map(|p| p.0.clone()),
        }
    }

    /// Whether an `include` pattern was given (a name must then match it).
    pub fn has_include(&self) -> bool {
        self.include.is_some()
    }

    /// Whether `name` matches `include` (or there is none) and does not match `exclude`.
    pub fn wants(&self, name: &str) -> bool {
        self.include.as_ref().is_none_or(|r| r.is_match(name))
            && !self.exclude.as_ref().is_some_and(|r| r.is_match(name))
    }
}

#[cfg(test)]
mod tests {
    use super::Filter;
    use dozor_config::RegexPattern;

    fn pattern(text: &str) -> Option<RegexPattern> {
        Some(RegexPattern(regex::Regex::new(text).unwrap()))
    }

    #[test]
    fn include_then_exclude_unanchored() {
        let f = Filter::new(&pattern("^orders"), &pattern(r"\.tmp$"));
        assert!(f.wants("orders.eu"));
        assert!(!f.wants("orders.eu.tmp"));
        assert!(!f.wants("x.orders"));
        let unanchored = Filter::new(&pattern("orders"), &None);
        assert!(unanchored.wants("x.orders.y"));
        assert!(Filter::default().wants("anything"));
    }
}
