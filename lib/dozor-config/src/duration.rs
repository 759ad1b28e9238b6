//! Durations written as `15s`, `500ms`, `1m30s`, `2h` or `1d`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration in a configuration file: whole numbers with units `d`, `h`, `m`, `s`, `ms`, largest
/// first (`1m30s`, `2h`, `500ms`, `0s`).
///
/// An invalid value is reported as a located problem by [`load`](crate::load) without ending the
/// load. It serializes and displays in the same form, to millisecond precision (finer parts are
/// dropped).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub std::time::Duration);

/// Units, largest first, with their length in milliseconds.
const UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

impl Duration {
    /// Parses the configuration form; the error says what is wrong with `text`.
    fn parse(text: &str) -> Result<Self, String> {
        parse_millis(text)
            .map(|ms| Self(std::time::Duration::from_millis(ms)))
            .map_err(|reason| format!("invalid duration \"{}\": {reason}", text.escape_debug()))
    }
}

fn parse_millis(text: &str) -> Result<u64, String> {
    if text.is_empty() {
        return Err("empty (write e.g. \"15s\")".to_owned());
    }
    let mut rest = text;
    let mut total: u64 = 0;
    let mut smallest_so_far = usize::MAX;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            let bad = rest.chars().next().unwrap_or_default();
            return Err(format!(
                "expected a number at \"{}\" (write e.g. \"1m30s\")",
                bad.escape_debug()
            ));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| "number too large".to_owned())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(if unit.is_empty() {
                "missing unit (use ms, s, m, h, d)".to_owned()
            } else {
                format!(
                    "unknown unit \"{}\" (use ms, s, m, h, d)",
                    unit.escape_debug()
                )
            });
        };
        if smallest_so_far != usize::MAX && index <= smallest_so_far {
            return Err(
                "units must go from largest to smallest, each once (e.g. \"1h30m\")".to_owned(),
            );
        }
        smallest_so_far = index;
        total = number
            .checked_mul(UNITS[index].1)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| "too large".to_owned())?;
    }
    Ok(total)
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut left = u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX);
        if left == 0 {
            return f.write_str("0s");
        }
        for (name, ms) in UNITS {
            if left >= ms {
                write!(f, "{}{name}", left / ms)?;
                left %= ms;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::sink::leaf(deserializer, Duration::parse, Duration::default)
    }
}

#[cfg(feature = "schemars")]
impl schemars::JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "duration",
            "description": "Whole numbers with units d, h, m, s, ms, largest first: 500ms, 15s, 1m30s.",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> std::time::Duration = std::time::Duration::from_millis;

    #[test]
    fn parses() {
        for (text, ms) in [
            ("15s", 15_000),
            ("500ms", 500),
            ("1m30s", 90_000),
            ("2h", 7_200_000),
            ("1d", 86_400_000),
            ("0s", 0),
            ("1d2h3m4s5ms", 93_784_005),
            ("90s", 90_000),
        ] {
            assert_eq!(Duration::parse(text), Ok(Duration(MS(ms))), "{text}");
        }
    }

    #[test]
    fn rejects() {
        for (text, reason) in [
            ("", "empty (write e.g. \"15s\")"),
            ("15", "missing unit (use ms, s, m, h, d)"),
            ("15x", "unknown unit \"x\" (use ms, s, m, h, d)"),
            ("1.5s", "unknown unit \".\" (use ms, s, m, h, d)"),
            ("15 s", "unknown unit \" s\" (use ms, s, m, h, d)"),
            ("-1s", "expected a number at \"-\" (write e.g. \"1m30s\")"),
            ("s", "expected a number at \"s\" (write e.g. \"1m30s\")"),
            (
                "30s1m",
                "units must go from largest to smallest, each once (e.g. \"1h30m\")",
            ),
            (
                "1s1s",
                "units must go from largest to smallest, each once (e.g. \"1h30m\")",
            ),
            ("99999999999999999999s", "number too large"),
            ("999999999999999d", "too large"),
        ] {
            let want = format!("invalid duration \"{}\": {reason}", text.escape_debug());
            assert_eq!(Duration::parse(text), Err(want), "{text}");
        }
    }

    #[test]
    fn displays_in_the_parsed_form() {
        for (ms, text) in [
            (0, "0s"),
            (90_000, "1m30s"),
            (1_500, "1s500ms"),
            (86_400_000, "1d"),
        ] {
            assert_eq!(Duration(MS(ms)).to_string(), text);
            assert_eq!(Duration::parse(text), Ok(Duration(MS(ms))));
        }
        assert_eq!(
            Duration(std::time::Duration::from_micros(1_500)).to_string(),
            "1ms"
        );
        assert_eq!(
            serde_saphyr::to_string(&Duration(MS(90_000))).unwrap(),
            "1m30s\n"
        );
    }

    #[test]
    fn errors_normally_outside_a_load() {
        let err = serde_saphyr::from_str::<Duration>("15x").unwrap_err();
        assert!(
            err.to_string().contains("invalid duration \"15x\""),
            "{err}"
        );
        assert_eq!(
            serde_saphyr::from_str::<Duration>("2h").unwrap(),
            Duration(MS(7_200_000))
        );
    }
}
