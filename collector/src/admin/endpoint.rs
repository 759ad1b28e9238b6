//! The CLI side: which admin endpoint to ask (`--admin URL`, else the config's
//! `admin.listen`, else the default), with which token (`--admin-token-file`, else
//! `admin.token_file`), and the exit codes of `status` and `top`.

use super::snapshot::Status;
use crate::config::Config;
use dozor_top::{GetError, Target};
use std::path::PathBuf;
use std::time::Duration;

/// Healthy.
pub const EXIT_OK: u8 = 0;
/// Something needs attention: the first line names it and its fix.
pub const EXIT_ATTENTION: u8 = 1;
/// The configuration (or a flag) is wrong.
pub const EXIT_CONFIG: u8 = 2;
/// The collector could not be asked: nothing listens, no answer in time, token refused.
pub const EXIT_UNREACHABLE: u8 = 3;

/// Default total time for one request to the endpoint.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The admin flags shared by `status` and `top`.
#[derive(Clone, Debug, Default)]
pub struct Flags {
    /// `--admin URL`.
    pub admin: Option<String>,
    /// `--admin-token-file FILE`.
    pub token_file: Option<PathBuf>,
    /// `--timeout`.
    pub timeout: Option<Duration>,
}

/// The endpoint to ask; an error is a configuration problem (exit 2).
pub fn target(flags: &Flags, config: &Config) -> Result<Target, String> {
    let url = match &flags.admin {
        Some(url) => url.clone(),
        None => match config.admin.address() {
            None => {
                return Err(
                    "the admin endpoint is off (admin.listen: off): enable it, or pass --admin URL"
                        .into(),
                );
            }
            Some(Err(l)) => return Err(format!("admin.listen: invalid address {l:?}")),
            // Listening on every address: ask it on loopback.
            Some(Ok(a)) if a.ip().is_unspecified() => format!("127.0.0.1:{}", a.port()),
            Some(Ok(a)) => a.to_string(),
        },
    };
    let file = flags.token_file.clone().or_else(|| {
        (!config.admin.token_file.is_empty()).then(|| PathBuf::from(&config.admin.token_file))
    });
    let token = match file {
        None => None,
        Some(f) => Some(
            std::fs::read_to_string(&f)
                .map_err(|e| format!("reading the admin token file {}: {e}", f.display()))?
                .trim()
                .to_string(),
        ),
    };
    Target::new(&url, token, flags.timeout.unwrap_or(DEFAULT_TIMEOUT)).map_err(|e| e.to_string())
}

/// Why the status could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The request failed.
    #[error(transparent)]
    Get(#[from] GetError),
    /// The answer is not a collector status.
    #[error("{address} answered, but not with a collector status: {error}")]
    Parse {
        /// `host:port`.
        address: String,
        /// The JSON error.
        error: serde_json::Error,
    },
}

/// `GET /v1/status`, parsed.
pub fn fetch(target: &Target) -> Result<Status, FetchError> {
    let body = target.get("/v1/status")?;
    serde_json::from_str(&body).map_err(|error| FetchError::Parse {
        address: target.address.clone(),
        error,
    })
}

/// The first line for a collector that could not be asked.
pub fn unreachable_line(target: &Target, e: &FetchError) -> String {
    let fix = match e {
        FetchError::Get(GetError::Unauthorized { .. }) => {
            "pass the collector's admin token with --admin-token-file (its admin.token_file)"
        }
        FetchError::Get(GetError::Timeout { .. }) => {
            "the collector accepts connections but does not answer: is it stopped or overloaded? check its process and log"
        }
        _ => {
            "start dozor-collector, or point --admin (or admin.listen in --config) at where it listens"
        }
    };
    format!(
        "UNREACHABLE: no status from the collector at {}: {e} -- fix: {fix}",
        target.address
    )
}

/// `dozor-collector status [--json]`: prints and returns the exit code.
pub fn status(target: &Target, json: bool) -> u8 {
    let s = match fetch(target) {
        Ok(s) => s,
        Err(e) => {
            println!("{}", unreachable_line(target, &e));
            return EXIT_UNREACHABLE;
        }
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&s).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        );
    } else {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let text = super::status::render(&s, now);
        print!("{}", colour_first_line(&text, s.attention.is_empty()));
    }
    if s.attention.is_empty() {
        EXIT_OK
    } else {
        EXIT_ATTENTION
    }
}

fn colour_first_line(text: &str, ok: bool) -> String {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || std::env::var_os("NO_COLOR").is_some() {
        return text.to_string();
    }
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let code = if ok { "32" } else { "33" };
    format!("\x1b[1;{code}m{first}\x1b[0m\n{rest}")
}
