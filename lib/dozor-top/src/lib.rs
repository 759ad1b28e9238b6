//! What `dozor-agent top` and `dozor-collector top` share: the live terminal view (ratatui on
//! crossterm), rates computed from counter deltas since `top` started, the blocking client
//! both use to read an admin endpoint, and the shell completions and man pages both binaries
//! generate from their clap definitions.
//!
//! A crate of its own because two binaries need the same code (STYLE.md, Vector's `lib/`):
//! each binary only turns its own `/v1/status` JSON into a [`view::Model`].

pub mod client;
pub mod docs;
pub mod rates;
pub mod terminal;
pub mod view;

pub use client::{GetError, Target};
pub use rates::Rates;
pub use view::{Model, Table};

/// A flag's duration: `500ms`, `2s`, `1m`, or plain seconds (`1.5`).
pub fn duration(s: &str) -> Result<std::time::Duration, String> {
    let (number, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    match number.parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 && n * scale <= 86_400.0 => {
            Ok(std::time::Duration::from_secs_f64(n * scale))
        }
        _ => Err(format!(
            "invalid duration {s:?}: expected e.g. 500ms, 2s or 1m (more than 0, at most 24h)"
        )),
    }
}
