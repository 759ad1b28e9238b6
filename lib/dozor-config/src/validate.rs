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
