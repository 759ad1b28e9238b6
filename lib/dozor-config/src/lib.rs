//! Loads a YAML configuration file into the caller's type and reports every problem at once, each
//! as `file:line:column: key.path: message`:
//!
//! ```text
//! agent.yaml:3:15: integrations.host.interval: invalid duration "15x": unknown unit "x" (use ms, s, m, h, d)
//! agent.yaml:6:5: exporters.otlp.endpont: unknown key "endpont"
//! agent.yaml:7:12: exporters.otlp.token: set DOZOR_TOKEN to the collector's token
//! ```
//!
//! What is checked, in order:
//!
//! 1. Environment references, on the raw text: `${VAR}`, `${VAR:-default}`, `${VAR:?message}`,
//!    `$$` for a literal `$`. Lines that are comments are left alone. Substituted values are never
//!    shown in a message, and values with line breaks are refused (use a file for those). A
//!    reference that fails is replaced by `""` (or by nothing inside a longer scalar) so the
//!    rest of the file is still checked; problems at that key are then consequences and dropped.
//! 2. The YAML itself and the shape of the caller's type. Unknown keys are problems: callers must
//!    not use `#[serde(deny_unknown_fields)]`, which would stop at the first one (it still gives a
//!    located problem). [`Duration`] and [`RegexPattern`] values that do not parse are problems
//!    that do not stop the load. Any other serde error (wrong type, missing field, bad syntax)
//!    stops it; the problems found before it are still reported.
//! 3. [`Validate::validate`], for checks across fields, once the file has deserialized.
//!
//! An empty file (or one with only comments) reads as an empty mapping. Files over 1 MiB are
//! refused. Positions are lost inside `#[serde(flatten)]` and untagged or internally tagged enums
//! (a serde limitation), so configuration types should avoid them.
//!
//! ```
//! use dozor_config::{Duration, Validate, Validator};
//!
//! #[derive(Debug, serde::Deserialize)]
//! struct Agent {
//!     /// How often to scrape.
//!     interval: Duration,
//! }
//!
//! impl Validate for Agent {
//!     fn validate(&self, v: &mut Validator) {
//!         if self.interval.0.is_zero() {
//!             v.error("interval", "must be more than 0s");
//!         }
//!     }
//! }
//!
//! let text = "interval: 0s\nintervall: 1s\n";
//! let error = dozor_config::load_str::<Agent>("agent.yaml", text, &|_| None).unwrap_err();
//! assert_eq!(
//!     error.to_string(),
//!     "agent.yaml:1:1: interval: must be more than 0s\n\
//!      agent.yaml:2:1: intervall: unknown key \"intervall\""
//! );
//! ```

mod duration;
mod interpolate;
mod keymap;
mod load;
mod position;
mod problem;
#[cfg(feature = "schemars")]
pub mod reference;
mod regex_pattern;
mod saphyr;
mod sink;
mod state_dir;
mod validate;

use std::io::Read;
use std::path::Path;

use serde::de::DeserializeOwned;

pub use duration::Duration;
pub use problem::{ConfigError, Problem};
pub use regex_pattern::RegexPattern;
pub use sink::leaf;
pub use state_dir::state_dir;
pub use validate::{At, Validate, Validator};

/// Reads the file at `path` and loads it with [`load_str`], taking environment variables from the
/// process (a variable whose value is not valid Unicode counts as unset).
pub fn load<T: DeserializeOwned + Validate>(path: &Path) -> Result<T, ConfigError> {
    let file = path.display().to_string();
    let text = read(path).map_err(|message| ConfigError::whole_file(&file, message))?;
    load_str(&file, &text, &|name| std::env::var(name).ok())
}

/// Loads `text` (named `file_name` in problems) into `T`, looking environment variables up with
/// `env`, and returns every problem found (see the [crate] documentation for what is checked).
pub fn load_str<T: DeserializeOwned + Validate>(
    file_name: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<T, ConfigError> {
    load::load_str(file_name, text, env)
}

/// Reads at most one byte more than the limit, so a huge file is refused without reading it all.
fn read(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut bytes = Vec::new();
    let limit = u64::try_from(saphyr::MAX_FILE_BYTES).unwrap_or(u64::MAX);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() > saphyr::MAX_FILE_BYTES {
        return Err(format!(
            "the file is larger than the limit of {} bytes (1 MiB)",
            saphyr::MAX_FILE_BYTES
        ));
    }
    String::from_utf8(bytes)
        .map_err(|e| format!("not valid UTF-8 (at byte {})", e.utf8_error().valid_up_to()))
}
