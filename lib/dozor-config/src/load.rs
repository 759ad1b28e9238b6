//! The load pipeline: interpolate, map key paths, deserialize collecting every problem, validate,
//! then locate each problem in the file the user wrote.

use std::collections::HashSet;

use serde::de::DeserializeOwned;

use crate::interpolate::{Interpolated, Secret, interpolate};
use crate::keymap::{KeyMap, Pos};
use crate::position::LineIndex;
use crate::saphyr::{self, MAX_FILE_BYTES};
use crate::{ConfigError, Problem, Validate, Validator, sink};

pub(crate) fn load_str<T: DeserializeOwned + Validate>(
    file: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<T, ConfigError> {
    // Editors do not count a byte order mark as a column.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.len() > MAX_FILE_BYTES {
        return Err(ConfigError::whole_file(file, too_large(text.len(), "")));
    }
    let interpolated = interpolate(text, env);
    if interpolated.text.len() > MAX_FILE_BYTES {
        let what = " after substituting environment variables";
        return Err(ConfigError::whole_file(
            file,
            too_large(interpolated.text.len(), what),
        ));
    }
    let keys = KeyMap::build(&interpolated.text);
    let locate = Locator {
        file,
        original: LineIndex::new(text),
        interpolated: LineIndex::new(&interpolated.text),
        text: &interpolated,
        keys: &keys,
        // A file with nothing but comments reads as an empty mapping: all fields take their
        // defaults and required ones are reported missing, without a position.
        empty: !keys.has_root && !keys.syntax_error,
    };
    let source = if locate.empty {
        "{}"
    } else {
        &interpolated.text
    };

    let mut problems = Vec::new();
    // Problems at a key whose substitution failed are consequences of that failure.
    let mut from_env = HashSet::new();
    for p in &interpolated.problems {
        let (line, column) = locate.original.position(p.offset);
        let path = keys
            .containing(p.interpolated, line)
            .map(|e| e.path.clone())
            .unwrap_or_default();
        if !path.is_empty() {
            from_env.insert(path.clone());
        }
        problems.push(Problem {
            file: file.to_owned(),
            line,
            column,
            path,
            message: p.message.clone(),
        });
    }

    let mut ignored = Vec::new();
    let (result, leaves) = sink::scope(|| {
        serde_saphyr::with_deserializer_from_str_with_options(source, saphyr::options(), |de| {
            serde_ignored::deserialize(de, |path| ignored.extend(saphyr::ignored(&path)))
        })
    });
    for unknown in ignored {
        let at = keys.nearest(&unknown.path).map(|e| e.key);
        problems.push(locate.problem(at, unknown.path, unknown.message));
    }
    // Problems about values; those at a placeholder left by a failed substitution are dropped.
    let mut found = Vec::new();
    // Validators see placeholders at these keys, so what they say about them is not news.
    let mut placeholders = from_env.clone();
    for leaf in leaves {
        let path = locate.path_at(leaf.at);
        if !path.is_empty() {
            placeholders.insert(path.clone());
        }
        found.push(locate.problem(leaf.at, path, leaf.message));
    }
    let value = match result {
        Ok(value) => Some(value),
        Err(error) => {
            let (at, message) = saphyr::describe(&error);
            let path = locate.path_at(at);
            found.push(locate.problem(at, path, message));
            None
        }
    };
    if let Some(value) = &value {
        let mut validator = Validator::default();
        T::validate(value, &mut validator);
        for (path, message) in validator.problems {
            if placeholders.contains(&path) {
                continue;
            }
            let at = keys
                .nearest(&path)
                .filter(|e| !e.path.is_empty())
                .map_or(Some((1, 1)), |e| Some(e.key));
            found.push(locate.problem(at, path, message));
        }
    }
    problems.extend(found.into_iter().filter(|p| !from_env.contains(&p.path)));
    for problem in &mut problems {
        // One line per problem, whatever a validator wrote.
        let message = problem.message.replace(['\n', '\r'], " ");
        problem.message = redact(&message, problem.line, &interpolated.secrets);
    }
    match value {
        Some(value) if problems.is_empty() => Ok(value),
        _ => Err(ConfigError::new(problems)),
    }
}

/// The message for a file over [`MAX_FILE_BYTES`].
pub(crate) fn too_large(bytes: usize, when: &str) -> String {
    format!(
        "the file is {bytes} bytes{when}, more than the limit of {MAX_FILE_BYTES} bytes (1 MiB)"
    )
}

/// Turns positions in the interpolated text into problems located in the original file.
struct Locator<'a> {
    file: &'a str,
    original: LineIndex<'a>,
    interpolated: LineIndex<'a>,
    text: &'a Interpolated,
    keys: &'a KeyMap,
    empty: bool,
}

impl Locator<'_> {
    /// The path whose value (or else key) is at `at`, or empty.
    fn path_at(&self, at: Option<Pos>) -> String {
        at.filter(|_| !self.empty)
            .and_then(|at| self.keys.at(at))
            .map(|e| e.path.clone())
            .unwrap_or_default()
    }

    fn problem(&self, at: Option<Pos>, path: String, message: String) -> Problem {
        let (line, column) = match at.filter(|_| !self.empty) {
            Some((line, column)) => {
                let offset = self.interpolated.offset(line, column);
                self.original.position(self.text.to_original(offset))
            }
            None => (0, 0),
        };
        Problem {
            file: self.file.to_owned(),
            line,
            column,
            path,
            message,
        }
    }
}

/// Replaces substituted environment values in `message` with `***`: any value substituted on the
/// problem's line, and values of four characters or more wherever they were substituted (shorter
/// ones would mangle ordinary words and are unlikely to be secrets).
fn redact(message: &str, line: usize, secrets: &[Secret]) -> String {
    let mut values: Vec<&str> = secrets
        .iter()
        .filter(|s| s.line == line || s.value.chars().count() >= 4)
        .map(|s| s.value.as_str())
        .collect();
    // Longest first, so a value containing another is hidden whole.
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    let mut message = message.to_owned();
    for value in values {
        let escaped = value.escape_debug().to_string();
        message = message.replace(value, "***").replace(&escaped, "***");
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_values_from_the_environment() {
        let secrets = [
            Secret {
                line: 3,
                value: "hunter2".to_owned(),
            },
            Secret {
                line: 4,
                value: "8".to_owned(),
            },
        ];
        assert_eq!(redact("bad \"hunter2\"", 9, &secrets), "bad \"***\"");
        assert_eq!(redact("expected u8", 9, &secrets), "expected u8");
        assert_eq!(redact("expected u8", 4, &secrets), "expected u***");
    }
}
