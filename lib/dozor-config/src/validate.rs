//! Checks that span several fields, run after the file deserialized.

/// Cross-field checks of a configuration type, run by [`load`](crate::load) once the file has
/// deserialized without problems.
///
/// Report each problem with [`Validator::error`] and keep going, so that all of them are shown
/// at once. Nested types are not visited automatically: call their `validate` from the parent's.
pub trait Validate {
    /// Reports every problem of `self` to `v`; the default finds none.
    fn validate(&self, v: &mut Validator) {
        let _ = v;
    }
}

/// Collects the problems found by [`Validate::validate`]; `load` locates each at its key.
#[derive(Debug, Default)]
pub struct Validator {
    pub(crate) problems: Vec<(String, String)>,
}

impl Validator {
    /// Reports a problem at `key_path` (like `exporters.otlp.endpoints[1]`), which is located at
    /// that key in the file, or at its nearest parent present in the file.
    ///
    /// The message must not include values that may be secrets.
    pub fn error(&mut self, key_path: &str, message: impl Into<String>) {
        self.problems.push((key_path.to_owned(), message.into()));
    }
}

impl Validator {
    /// Problems under `key_path` (`exporters.otlp`), reported with keys relative to it, so that
    /// a section's checks name only its own keys.
    pub fn at(&mut self, key_path: impl Into<String>) -> At<'_> {
        At {
            v: self,
            path: key_path.into(),
        }
    }
}

/// A [`Validator`] for the keys under one path; see [`Validator::at`].
#[derive(Debug)]
pub struct At<'a> {
    v: &'a mut Validator,
    path: String,
}

impl At<'_> {
    /// The key path this reports under.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Reports a problem at `key` under this path (`""`: at the path itself).
    pub fn error(&mut self, key: &str, message: impl Into<String>) {
        let path = self.join(key);
        self.v.error(&path, message);
    }

    /// The keys under `key`.
    pub fn at(&mut self, key: &str) -> At<'_> {
        let path = self.join(key);
        At { v: self.v, path }
    }

    /// The keys under item `i` of the list `key` (`key[i]`).
    pub fn item(&mut self, key: &str, i: usize) -> At<'_> {
        let path = format!("{}[{i}]", self.join(key));
        At { v: self.v, path }
    }

    /// Reports a zero duration at `key`.
    pub fn positive(&mut self, key: &str, d: crate::Duration) {
        if d.0.is_zero() {
            self.error(key, "must be greater than 0s");
        }
    }

    /// Reports a duration at `key` that is set and zero.
    pub fn positive_if_set(&mut self, key: &str, d: Option<crate::Duration>) {
        if let Some(d) = d {
            self.positive(key, d);
        }
    }

    /// Reports a number at `key` below `min`.
    pub fn at_least<T: PartialOrd + std::fmt::Display>(&mut self, key: &str, value: T, min: T) {
        if value < min {
            self.error(key, format!("must be at least {min}"));
        }
    }

    fn join(&self, key: &str) -> String {
        match (self.path.is_empty(), key.is_empty()) {
            (_, true) => self.path.clone(),
            (true, false) => key.to_string(),
            (false, false) => format!("{}.{key}", self.path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoped_paths() {
        let mut v = Validator::default();
        {
            let mut otlp = v.at("exporters.otlp");
            otlp.error("timeout", "a");
            otlp.at("buffer").error("max_bytes", "b");
            otlp.item("endpoints", 2).error("", "c");
            otlp.positive("flush_interval", crate::Duration::default());
            otlp.at_least("replay_rate", 0, 1);
        }
        v.at("").error("agent", "d");
        let got: Vec<(&str, &str)> = v
            .problems
            .iter()
            .map(|(p, m)| (p.as_str(), m.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("exporters.otlp.timeout", "a"),
                ("exporters.otlp.buffer.max_bytes", "b"),
                ("exporters.otlp.endpoints[2]", "c"),
                ("exporters.otlp.flush_interval", "must be greater than 0s"),
                ("exporters.otlp.replay_rate", "must be at least 1"),
                ("agent", "d"),
            ]
        );
    }
}
