//! What a check found ([`Outcome`]) and how a diagnosis is printed: the verdict first, then one
//! line per check with its fix under it; or JSON.

use std::fmt::Write;
use std::time::Duration;

/// The result kinds, in the words printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Checked and fine.
    Pass,
    /// Works, but something is degraded or not verifiable.
    Warn,
    /// Broken: the fix says what to do.
    Fail,
    /// Not applicable to this configuration.
    Skip,
    /// Did not finish within its timeout or the budget.
    Timeout,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
            Status::Timeout => "TIMEOUT",
        }
    }

    fn colour(self) -> &'static str {
        match self {
            Status::Pass => "\x1b[32m",
            Status::Warn | Status::Timeout => "\x1b[33m",
            Status::Fail => "\x1b[31m",
            Status::Skip => "\x1b[2m",
        }
    }

    /// True for the results that make `diagnose` exit 1.
    pub fn failed(self) -> bool {
        matches!(self, Status::Fail | Status::Timeout)
    }
}

/// What one check found.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Outcome {
    /// The result.
    pub status: Status,
    /// What was seen, in one line.
    pub detail: String,
    /// The exact fix, for `FAIL`, `WARN` and `TIMEOUT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Outcome {
    /// Fine.
    pub fn pass(detail: impl Into<String>) -> Outcome {
        Outcome {
            status: Status::Pass,
            detail: detail.into(),
            fix: None,
        }
    }

    /// Broken, with the fix.
    pub fn fail(detail: impl Into<String>, fix: impl Into<String>) -> Outcome {
        Outcome {
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    /// Degraded, with the fix.
    pub fn warn(detail: impl Into<String>, fix: impl Into<String>) -> Outcome {
        Outcome {
            status: Status::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    /// Not applicable.
    pub fn skip(detail: impl Into<String>) -> Outcome {
        Outcome {
            status: Status::Skip,
            detail: detail.into(),
            fix: None,
        }
    }

    /// Still running after `after`, waiting on `waiting`.
    pub fn timeout(after: Duration, waiting: &str) -> Outcome {
        let waiting = if waiting.is_empty() {
            "starting"
        } else {
            waiting
        };
        Outcome {
            status: Status::Timeout,
            detail: format!(
                "no result after {:.1} s; it was waiting on {waiting}",
                after.as_secs_f64()
            ),
            fix: Some(format!(
                "find out why it hangs: {waiting} never came (a firewall that drops packets, a peer that accepts connections and never replies, an overloaded server)"
            )),
        }
    }
}

/// One check's line.
#[derive(Debug, serde::Serialize)]
pub struct Line {
    /// The check's name.
    pub name: String,
    /// What it found.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// How long it ran.
    #[serde(serialize_with = "millis", rename = "duration_ms")]
    pub duration: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// True when any check failed or timed out.
pub fn failed(lines: &[Line]) -> bool {
    lines.iter().any(|l| l.outcome.status.failed())
}

/// The verdict: the first failing check and its fix, or that all passed.
pub fn verdict(lines: &[Line]) -> String {
    match lines.iter().find(|l| l.outcome.status.failed()) {
        Some(l) => format!(
            "{} {}: {}{}",
            l.outcome.status.word(),
            l.name,
            l.outcome.detail,
            l.outcome
                .fix
                .as_deref()
                .map(|f| format!(". Fix: {f}"))
                .unwrap_or_default()
        ),
        None => {
            let warned = lines
                .iter()
                .filter(|l| l.outcome.status == Status::Warn)
                .count();
            let passed = lines
                .iter()
                .filter(|l| l.outcome.status == Status::Pass)
                .count();
            format!("OK: {passed} checks passed, {warned} warnings, nothing failed")
        }
    }
}

/// The text form: the verdict, then each check with its fix indented under it.
pub fn text(lines: &[Line], colour: bool) -> String {
    let mut out = verdict(lines);
    out.push('\n');
    for l in lines {
        let word = l.outcome.status.word();
        let word = if colour {
            format!("{}{word}\x1b[0m", l.outcome.status.colour())
        } else {
            word.to_string()
        };
        let _ = writeln!(out, "{word} {}: {}", l.name, l.outcome.detail);
        if let Some(fix) = &l.outcome.fix
            && l.outcome.status != Status::Pass
        {
            let _ = writeln!(out, "     fix: {fix}");
        }
    }
    out
}

/// The JSON form: `{"verdict", "ok", "checks": [...]}`.
pub fn json(lines: &[Line]) -> String {
    let value = serde_json::json!({
        "verdict": verdict(lines),
        "ok": !failed(lines),
        "checks": lines,
    });
    let mut out = serde_json::to_string_pretty(&value).unwrap_or_default();
    out.push('\n');
    out
}
