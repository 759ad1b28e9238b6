//! Environment interpolation on the raw file text, before YAML parsing.
//!
//! Supported forms: `${VAR}` (unset is a problem), `${VAR:-default}` (unset or empty takes the
//! default), `${VAR:?message}` (unset or empty is a problem with that message) and `$$` for a
//! literal `$`. Any other `$` is kept as is. Lines whose first non-blank character is `#` are
//! comments and are copied untouched, so commented-out settings never need their variables (this
//! is decided per line, without parsing: such a line inside a block scalar is left alone too).
//!
//! Substituted environment values are remembered as secrets so that no message echoes them, and
//! every replacement is recorded so that positions in the interpolated text can be mapped back to
//! the file the user wrote.

/// A problem found while interpolating, at a byte offset of the original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InterpolationProblem {
    /// Byte offset of the `${` in the original text.
    pub offset: usize,
    /// Byte offset of what replaced it in the interpolated text.
    pub interpolated: usize,
    /// What is wrong; never contains a substituted value.
    pub message: String,
}

/// One replaced stretch of text: `original` bytes became `interpolated` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    original: (usize, usize),
    interpolated: (usize, usize),
}

/// The interpolated text with what is needed to map positions back and to redact messages.
#[derive(Debug, Default)]
pub(crate) struct Interpolated {
    /// The text handed to the YAML parser.
    pub text: String,
    /// Problems, in file order.
    pub problems: Vec<InterpolationProblem>,
    /// Values that came from the environment; messages must not show them.
    pub secrets: Vec<Secret>,
    segments: Vec<Segment>,
}

/// A value taken from the environment and the original line it was substituted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Secret {
    /// 1-based line in the original text.
    pub line: usize,
    /// The substituted value.
    pub value: String,
}

impl Interpolated {
    /// Maps a byte offset of the interpolated text to a byte offset of the original text.
    ///
    /// An offset inside (or at the start of) a replacement maps to the start of what it replaced,
    /// so a problem about a substituted value points at its `${`.
    pub fn to_original(&self, offset: usize) -> usize {
        let mut mapped = offset;
        for segment in &self.segments {
            let (start, end) = segment.interpolated;
            if offset < start {
                break;
            }
            if offset < end || offset == start {
                return segment.original.0;
            }
            mapped = segment.original.1 + (offset - end);
        }
        mapped
    }
}

/// Interpolates `text`, looking variables up with `env`.
pub(crate) fn interpolate(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Interpolated {
    let mut out = Interpolated {
        text: String::with_capacity(text.len()),
        ..Interpolated::default()
    };
    let mut line_start = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') {
            out.text.push_str(line);
        } else {
            interpolate_line(line, line_start, index + 1, env, &mut out);
        }
        line_start += line.len();
    }
    out
}

fn interpolate_line(
    line: &str,
    line_start: usize,
    line_number: usize,
    env: &dyn Fn(&str) -> Option<String>,
    out: &mut Interpolated,
) {
    let mut rest = 0;
    while let Some(found) = line[rest..].find('$') {
        let dollar = rest + found;
        out.text.push_str(&line[rest..dollar]);
        let after = &line[dollar + 1..];
        if after.starts_with('$') {
            replace(out, line_start + dollar, 2, "$");
            rest = dollar + 2;
        } else if after.starts_with('{') {
            let Some(close) = after.find('}') else {
                out.problems.push(InterpolationProblem {
                    offset: line_start + dollar,
                    interpolated: out.text.len(),
                    message: "unterminated \"${\": add the closing \"}\" (write \"$$\" for a literal \"$\")"
                        .to_owned(),
                });
                out.text.push_str(&line[dollar..]);
                return;
            };
            let expression = &after[1..close];
            let length = close + 2;
            match resolve(expression, env) {
                Ok(Resolved::Environment(value)) => {
                    if !value.is_empty() {
                        out.secrets.push(Secret {
                            line: line_number,
                            value: value.clone(),
                        });
                    }
                    replace(out, line_start + dollar, length, &value);
                }
                Ok(Resolved::Default(value)) => replace(out, line_start + dollar, length, value),
                Err(message) => {
                    out.problems.push(InterpolationProblem {
                        offset: line_start + dollar,
                        interpolated: out.text.len(),
                        message,
                    });
                    let whole = is_whole_value(&line[..dollar], &line[dollar + length..]);
                    // An empty plain scalar is null, which fails for strings and hides the
                    // problems after it; `""` keeps deserialization going in the common case.
                    replace(
                        out,
                        line_start + dollar,
                        length,
                        if whole { "\"\"" } else { "" },
                    );
                }
            }
            rest = dollar + length;
        } else {
            out.text.push('$');
            rest = dollar + 1;
        }
    }
    out.text.push_str(&line[rest..]);
}

enum Resolved<'a> {
    Environment(String),
    Default(&'a str),
}

fn resolve<'a>(
    expression: &'a str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Resolved<'a>, String> {
    let (name, operator) = match expression.find(':') {
        Some(colon) => (&expression[..colon], Some(&expression[colon + 1..])),
        None => (expression, None),
    };
    if !is_variable_name(name) {
        return Err(format!(
            "invalid environment variable name {:?} (use letters, digits and \"_\")",
            name
        ));
    }
    let value = env(name);
    if value.as_deref().is_some_and(|v| v.contains(['\n', '\r'])) {
        return Err(format!(
            "environment variable {name} contains a line break, which cannot be substituted"
        ));
    }
    let set = value.as_deref().is_some_and(|v| !v.is_empty());
    match operator {
        None => value
            .map(Resolved::Environment)
            .ok_or_else(|| format!("environment variable {name} is not set")),
        Some(op) if op.starts_with('-') => Ok(match value {
            Some(value) if set => Resolved::Environment(value),
            _ => Resolved::Default(&op[1..]),
        }),
        Some(op) if op.starts_with('?') => match value {
            Some(value) if set => Ok(Resolved::Environment(value)),
            _ if op.len() > 1 => Err(op[1..].to_owned()),
            _ => Err(format!("environment variable {name} is not set or empty")),
        },
        Some(_) => Err(format!(
            "unsupported form \"${{{expression}}}\": use ${{{name}}}, ${{{name}:-default}} or ${{{name}:?message}}"
        )),
    }
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether a `${...}` is a whole plain scalar: only a key, list dashes or flow punctuation before
/// it on the line, and nothing but blanks, a comment or flow punctuation after it.
fn is_whole_value(before: &str, after: &str) -> bool {
    let (left, right) = (before.trim_end(), after.trim_start());
    // `key: `, `- ` and `? ` need the blank; `a-${X}` and `http:${X}` are inside a scalar.
    let blank_before = left.len() < before.len();
    let blank_after = right.len() < after.len();
    let starts = left.is_empty()
        || left.ends_with(['[', '{', ','])
        || (blank_before && left.ends_with([':', '-', '?']));
    let ends = right.is_empty()
        || right.starts_with([',', ']', '}'])
        || (blank_after && right.starts_with('#'));
    starts && ends
}

fn replace(out: &mut Interpolated, original_start: usize, original_length: usize, with: &str) {
    let start = out.text.len();
    out.text.push_str(with);
    out.segments.push(Segment {
        original: (original_start, original_start + original_length),
        interpolated: (start, out.text.len()),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("db.internal".to_owned()),
            "EMPTY" => Some(String::new()),
            "MULTI" => Some("a\nb".to_owned()),
            _ => None,
        }
    }

    fn run(text: &str) -> (String, Vec<(usize, String)>) {
        let out = interpolate(text, &env);
        let problems = out
            .problems
            .into_iter()
            .map(|p| (p.offset, p.message))
            .collect();
        (out.text, problems)
    }

    /// Input, interpolated text, problems as (offset, message).
    type Case = (&'static str, &'static str, &'static [(usize, &'static str)]);

    #[test]
    fn substitutes_and_reports() {
        let cases: &[Case] = &[
            ("a: ${HOST}\n", "a: db.internal\n", &[]),
            ("a: x${HOST}y\n", "a: xdb.internaly\n", &[]),
            ("a: ${NOPE:-fallback}\n", "a: fallback\n", &[]),
            ("a: ${EMPTY:-fallback}\n", "a: fallback\n", &[]),
            ("a: ${HOST:-fallback}\n", "a: db.internal\n", &[]),
            ("a: ${EMPTY}\n", "a: \n", &[]),
            ("a: $$HOME $5\n", "a: $HOME $5\n", &[]),
            ("# ${NOPE}\n  # $$\n", "# ${NOPE}\n  # $$\n", &[]),
            (
                "a: ${NOPE}\n",
                "a: \"\"\n",
                &[(3, "environment variable NOPE is not set")],
            ),
            ("a: ${NOPE:?set NOPE}\n", "a: \"\"\n", &[(3, "set NOPE")]),
            (
                "a: ${EMPTY:?}\n",
                "a: \"\"\n",
                &[(3, "environment variable EMPTY is not set or empty")],
            ),
            (
                "a: \"x${NOPE}\"\n",
                "a: \"x\"\n",
                &[(5, "environment variable NOPE is not set")],
            ),
            (
                "a: ${MULTI}\n",
                "a: \"\"\n",
                &[(
                    3,
                    "environment variable MULTI contains a line break, which cannot be substituted",
                )],
            ),
            (
                "a: ${1X}\n",
                "a: \"\"\n",
                &[(
                    3,
                    "invalid environment variable name \"1X\" (use letters, digits and \"_\")",
                )],
            ),
            (
                "a: ${X:+y}\n",
                "a: \"\"\n",
                &[(
                    3,
                    "unsupported form \"${X:+y}\": use ${X}, ${X:-default} or ${X:?message}",
                )],
            ),
            (
                "a: ${HOST\n",
                "a: ${HOST\n",
                &[(
                    3,
                    "unterminated \"${\": add the closing \"}\" (write \"$$\" for a literal \"$\")",
                )],
            ),
        ];
        for (input, text, problems) in cases {
            let (got_text, got_problems) = run(input);
            assert_eq!(&got_text, text, "{input:?}");
            let want: Vec<(usize, String)> = problems
                .iter()
                .map(|(o, m)| (*o, (*m).to_owned()))
                .collect();
            assert_eq!(got_problems, want, "{input:?}");
        }
    }

    #[test]
    fn knows_a_whole_plain_value() {
        for (before, after, whole) in [
            ("key: ", "\n", true),
            ("  - ", " # why\n", true),
            ("", "", true),
            ("a: [x, ", "]\n", true),
            ("a: {k: ", "}\n", true),
            ("a: x", "\n", false),
            ("a: \"", "\"\n", false),
            ("a: b-", "\n", false),
            ("url: http:", "\n", false),
            ("a: ", "#x\n", false),
            ("a: ", "/x\n", false),
        ] {
            assert_eq!(is_whole_value(before, after), whole, "{before:?} {after:?}");
        }
    }

    #[test]
    fn maps_offsets_back() {
        let out = interpolate("a: ${HOST} $$ b\nc: ${NOPE}\n", &env);
        assert_eq!(out.text, "a: db.internal $ b\nc: \"\"\n");
        // Inside and at the start of a substituted value: the `${`.
        assert_eq!(out.to_original(3), 3);
        assert_eq!(out.to_original(8), 3);
        // After it: shifted by the length difference.
        assert_eq!(out.to_original(14), 10);
        assert_eq!(out.to_original(15), 11);
        assert_eq!(out.to_original(17), 14);
        assert_eq!(out.to_original(19), 16);
        assert_eq!(out.to_original(22), 19);
        assert_eq!(out.problems[0].interpolated, 22);
        assert_eq!(
            out.secrets,
            vec![Secret {
                line: 1,
                value: "db.internal".to_owned()
            }]
        );
    }
}
