//! Where leaf types put their problems while a file is being loaded.
//!
//! A leaf value that fails to parse (a bad duration, an invalid regex) must not end
//! deserialization, or the problems after it would go unreported. `Deserialize` has no side
//! channel, so `load_str` opens a per-thread scope and the leaf types report into it, then return
//! a placeholder. Outside a scope (for example when a caller deserializes a `Duration` from JSON)
//! they return an ordinary serde error instead.

use std::cell::RefCell;

use serde_saphyr::Location;

/// A leaf problem, located at its value in the interpolated text (`None` when serde lost the
/// location, as it does inside `#[serde(flatten)]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeafProblem {
    pub at: Option<(usize, usize)>,
    pub message: String,
}

thread_local! {
    /// A stack, so that a nested load (a validator loading another file) keeps its own problems.
    static SCOPES: RefCell<Vec<Vec<LeafProblem>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with a scope open and returns what was reported into it.
pub(crate) fn scope<R>(f: impl FnOnce() -> R) -> (R, Vec<LeafProblem>) {
    struct Close;
    impl Drop for Close {
        // Also closes the scope when `f` panics, so the thread's next load starts clean.
        fn drop(&mut self) {
            SCOPES.with(|s| s.borrow_mut().pop());
        }
    }
    SCOPES.with(|s| s.borrow_mut().push(Vec::new()));
    let close = Close;
    let result = f();
    let problems = SCOPES.with(|s| s.borrow_mut().last_mut().map(std::mem::take));
    drop(close);
    (result, problems.unwrap_or_default())
}

/// Reports a problem into the innermost scope; `false` when no scope is open.
pub(crate) fn report(location: Location, message: String) -> bool {
    let at = (location != Location::UNKNOWN).then(|| {
        (
            usize::try_from(location.line()).unwrap_or(usize::MAX),
            usize::try_from(location.column()).unwrap_or(usize::MAX),
        )
    });
    SCOPES.with(|s| match s.borrow_mut().last_mut() {
        Some(problems) => {
            problems.push(LeafProblem { at, message });
            true
        }
        None => false,
    })
}

/// Deserializes a leaf from a located string: on a parse error the problem goes to the open
/// scope and `fallback` is returned, or, outside a scope, the error is returned. For a leaf type
/// of its own (`impl Deserialize`), so that its errors carry the value's line, column and key
/// path like those of [`crate::Duration`], and do not stop the other problems being reported.
pub fn leaf<'de, D, T>(
    deserializer: D,
    parse: impl FnOnce(&str) -> Result<T, String>,
    fallback: impl FnOnce() -> T,
) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let spanned = <serde_saphyr::Spanned<String> as serde::Deserialize>::deserialize(deserializer)?;
    match parse(&spanned.value) {
        Ok(value) => Ok(value),
        Err(message) if report(spanned.referenced, message.clone()) => Ok(fallback()),
        Err(message) => Err(serde::de::Error::custom(message)),
    }
}
