//! `dozor-agent status` as text: the verdict on the first line (the problem and its fix), then
//! a compact report, one table per part. Exit codes: [`EXIT_HEALTHY`], [`EXIT_ATTENTION`],
//! [`EXIT_UNREACHABLE`] (2 stays the configuration error it is everywhere else).

use super::client::ClientError;
use super::status::Status;
use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Nothing needs attention.
pub const EXIT_HEALTHY: u8 = 0;
/// Something needs attention; the first line says what and how to fix it.
pub const EXIT_ATTENTION: u8 = 1;
/// The agent could not be reached (or refused the CLI).
pub const EXIT_UNREACHABLE: u8 = 3;

fn paint(text: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// The exit code for `status`.
pub fn exit_code(status: &Status) -> u8 {
    if status.attention.is_empty() {
        EXIT_HEALTHY
    } else {
        EXIT_ATTENTION
    }
}

/// The first line: the verdict, with the problem and its fix when there is one.
pub fn verdict(status: &Status, color: bool) -> String {
    match status.attention.first() {
        None => {
            let endpoints: Vec<&str> = status
                .export
                .iter()
                .filter(|e| e.signal == "metrics" && e.connected == Some(true))
                .map(|e| e.endpoint.as_str())
                .collect();
            let export = if endpoints.is_empty() {
                String::new()
            } else {
                format!(", exporting to {}", endpoints.join(", "))
            };
            format!(
                "{} dozor-agent {} is healthy: {} integration{} ok{export}",
                paint("OK:", "32", color),
                status.version,
                status.integrations.len(),
                if status.integrations.len() == 1 {
                    ""
                } else {
                    "s"
                },
            )
        }
        Some(a) => {
            let more = match status.attention.len() - 1 {
                0 => String::new(),
                1 => " (1 more problem below)".into(),
                n => format!(" ({n} more problems below)"),
            };
            format!(
                "{} {}. Fix: {}{more}",
                paint("ATTENTION:", "33", color),
                a.problem,
                a.fix
            )
        }
    }
}

/// The first line when the agent could not be read, naming the address tried and the fix.
pub fn unreachable(error: &ClientError, color: bool) -> String {
    format!(
        "{} {error}. Fix: {}",
        paint("UNREACHABLE:", "31", color),
        error.fix()
    )
}

fn ago(unix_ms: Option<u64>) -> String {
    let Some(ms) = unix_ms else {
        return "never".into();
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    format!("{} ago", human(now.saturating_sub(ms) / 1000))
}

fn human(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 86400 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        s => format!("{}d{}h", s / 86400, s % 86400 / 3600),
    }
}

fn bytes(n: u64) -> String {
    match n {
        n if n < 1024 => format!("{n} B"),
        n if n < 1024 * 1024 => format!("{:.1} KiB", n as f64 / 1024.0),
        n if n < 1024 * 1024 * 1024 => format!("{:.1} MiB", n as f64 / 1048576.0),
        n => format!("{:.1} GiB", n as f64 / 1073741824.0),
    }
}

/// Rows as columns padded to the widest cell.
fn table(out: &mut String, rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let _ = write!(line, "  {cell:<w$}", w = widths[c]);
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

/// The whole report: verdict, agent, integrations, buffer, export, drops, attention.
pub fn render(status: &Status, color: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", verdict(status, color));
    let _ = writeln!(
        out,
        "\nAgent: dozor-agent {}, up {}, config {}",
        status.version,
        human(status.uptime_seconds),
        status
            .config_file
            .as_deref()
            .unwrap_or("(built-in default)")
    );
    let identity: Vec<String> = status
        .resource
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let _ = writeln!(out, "Identity: {}", identity.join(" "));

    let _ = writeln!(out, "\nIntegrations:");
    let mut rows = vec![
        [
            "NAME", "RESULT", "LAST RUN", "DURATION", "RUNS", "ERRORS", "SKIPPED",
        ]
        .map(String::from)
        .to_vec(),
    ];
    let mut details = Vec::new();
    for i in &status.integrations {
        rows.push(vec![
            i.name.clone(),
            i.result.clone(),
            ago(i.last_run),
            i.duration_ms.map_or("-".into(), |d| format!("{d}ms")),
            i.runs.to_string(),
            i.errors.to_string(),
            i.skipped.to_string(),
        ]);
        let failed: Vec<&str> = i
            .sources
            .iter()
            .filter(|s| !s.ok)
            .map(|s| s.name.as_str())
            .collect();
        if let Some(e) = &i.error {
            details.push(format!("  {}: {e}", i.name));
            if !failed.is_empty() {
                details.push(format!("    sources failed: {}", failed.join(", ")));
            }
            if let Some(fix) = &i.fix {
                details.push(format!("    fix: {fix}"));
            }
        }
    }
    table(&mut out, &rows);
    for d in details {
        let _ = writeln!(out, "{d}");
    }

    let _ = writeln!(out, "\nBuffer:");
    let mut rows = vec![
        [
            "SIGNAL", "POINTS", "RECORDS", "USED", "LIMIT", "OLDEST", "PAUSED",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for (signal, b) in &status.buffer {
        rows.push(vec![
            signal.clone(),
            b.points.to_string(),
            b.records.to_string(),
            bytes(b.bytes),
            bytes(b.limit_bytes),
            human(b.oldest_age_seconds as u64),
            if b.paused { "yes" } else { "no" }.into(),
        ]);
    }
    table(&mut out, &rows);

    let _ = writeln!(out, "\nExport:");
    let mut rows = vec![
        [
            "SIGNAL",
            "ENDPOINT",
            "STATE",
            "BREAKER",
            "RETRY-AFTER",
            "LAST ERROR",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for e in &status.export {
        rows.push(vec![
            e.signal.clone(),
            e.endpoint.clone(),
            match e.connected {
                Some(true) => "connected",
                Some(false) => "failing",
                None => "idle",
            }
            .into(),
            e.breaker.clone(),
            e.retry_after_seconds
                .map_or("-".into(), |s| format!("{s:.0}s")),
            e.last_error.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    table(&mut out, &rows);

    let drops: Vec<String> = status
        .drops
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let _ = writeln!(out, "\nDrops: {}", drops.join(" "));
    let c = &status.counters;
    let _ = writeln!(
        out,
        "Totals: points_sent={} batches_sent={} requests_failed={} retries={} runs={} run_errors={}",
        c.points_sent, c.batches_sent, c.requests_failed, c.retries, c.runs, c.run_errors
    );
    if !status.attention.is_empty() {
        let _ = writeln!(out, "\nAttention:");
        for (n, a) in status.attention.iter().enumerate() {
            let _ = writeln!(out, "  {}. {}\n     fix: {}", n + 1, a.problem, a.fix);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::status::Attention;

    #[test]
    fn the_first_line_is_the_verdict() {
        let mut status = Status {
            version: "1.2.3".into(),
            ..Status::default()
        };
        assert!(verdict(&status, false).starts_with("OK: dozor-agent 1.2.3 is healthy"));
        assert_eq!(exit_code(&status), EXIT_HEALTHY);
        status.attention = vec![
            Attention {
                problem: "p".into(),
                fix: "f".into(),
            };
            2
        ];
        assert_eq!(
            render(&status, false).lines().next(),
            Some("ATTENTION: p. Fix: f (1 more problem below)")
        );
        assert_eq!(exit_code(&status), EXIT_ATTENTION);
    }
}
