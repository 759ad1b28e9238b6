//! Regular expressions written as strings in the configuration file.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A regular expression (syntax of the `regex` crate), compiled when the file is loaded; not
/// anchored, so `^` and `$` must be written when the whole text has to match.
///
/// An invalid pattern is reported as a located problem by [`load`](crate::load) without ending the
/// load.
#[derive(Debug, Clone)]
pub struct RegexPattern(pub regex::Regex);

impl RegexPattern {
    fn parse(text: &str) -> Result<Self, String> {
        regex::Regex::new(text).map(Self).map_err(|error| {
            format!(
                "invalid regular expression \"{}\": {}",
                text.escape_debug(),
                reason(&error)
            )
        })
    }

    /// Only returned while a load that already failed carries on looking for problems.
    fn placeholder() -> Self {
        Self(regex::Regex::new("").expect("the empty pattern compiles"))
    }
}

/// The one-line reason of a regex error: its rendering draws the pattern with a caret under the
/// fault over several lines, and ends with `error: <reason>`.
fn reason(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .rev()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .map_or_else(|| text.replace('\n', " "), str::to_owned)
}

impl fmt::Display for RegexPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl Serialize for RegexPattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for RegexPattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::sink::leaf(deserializer, RegexPattern::parse, RegexPattern::placeholder)
    }
}

#[cfg(feature = "schemars")]
impl schemars::JsonSchema for RegexPattern {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RegexPattern".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "regex",
            "description": "A regular expression (regex crate syntax), not anchored.",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_or_explains_in_one_line() {
        assert!(
            RegexPattern::parse("^eth[0-9]+$")
                .unwrap()
                .0
                .is_match("eth0")
        );
        assert_eq!(
            RegexPattern::parse("eth(").unwrap_err(),
            "invalid regular expression \"eth(\": unclosed group"
        );
        assert_eq!(
            RegexPattern::parse("a{99999999}").unwrap_err(),
            "invalid regular expression \"a{99999999}\": Compiled regex exceeds size limit of 10485760 bytes."
        );
    }
}
