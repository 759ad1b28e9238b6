//! The flare's parts, one function each: what it reads, the files it adds, or why it cannot.
//! Every text goes through the scrubber before it is returned.

use super::scrub::Scrubber;
use super::{DIAGNOSE_BUDGET, Input, PartResult};
use crate::config::Config;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// The total timeout of the status request (connect, send, read).
pub const STATUS_TIMEOUT: Duration = Duration::from_secs(4);
/// At most this much of a log file's end is read.
const MAX_LOG_BYTES: u64 = 16 << 20;

/// Adds to `scrubber` what it must remove beyond what the config text shows: the exporter's
/// token from `token_env` (a `token_file` is never read). The config file's own secrets are
/// found when [`config`] scrubs it, which [`super::main`] runs first.
pub fn know_secrets(config: &Config, file: Option<&Path>, scrubber: &mut Scrubber) {
    if let Some(var) = &config.exporters.otlp.auth.token_env
        && let Ok(v) = std::env::var(var)
    {
        scrubber.know(&v);
    }
    if let Some(text) = file.and_then(|f| std::fs::read_to_string(f).ok()) {
        let _ = super::scrub::config(&text, &|v| std::env::var(v).ok(), scrubber);
    }
}

/// `config.yaml`: the file as written, scrubbed.
pub fn config(input: &Input, scrubber: &Scrubber) -> PartResult {
    let Some(file) = &input.file else {
        return Ok(vec![(
            "config.yaml".into(),
            b"# no --config: the built-in default\n".to_vec(),
        )]);
    };
    let text =
        std::fs::read_to_string(file).map_err(|e| format!("reading {}: {e}", file.display()))?;
    let mut own = Scrubber::default();
    let scrubbed = super::scrub::config(&text, &|v| std::env::var(v).ok(), &mut own)?;
    let out = format!(
        "# {} as written, secrets replaced by <redacted>; ${{VAR}} references are not expanded\n{}",
        file.display(),
        scrubber.text(&own.text(&scrubbed))
    );
    Ok(vec![("config.yaml".into(), out.into_bytes())])
}

/// `status.json`: `GET /v1/status` of the running agent's admin endpoint (the admin client,
/// with its total timeout).
pub fn status(input: &Input, scrubber: &Scrubber) -> PartResult {
    let client = input.admin.as_ref().map_err(|e| scrubber.text(e))?;
    let (code, body) = client
        .get("/v1/status")
        .map_err(|e| format!("{e}: {}", e.fix()))?;
    if code != 200 {
        return Err(format!("{}/v1/status answered HTTP {code}", client.url()));
    }
    Ok(vec![(
        "status.json".into(),
        scrubber.text(&body).into_bytes(),
    )])
}

/// `diagnose.txt` and `diagnose.json`: a diagnosis within its budget.
pub fn diagnose(input: &Input, scrubber: &Scrubber) -> PartResult {
    // The configuration again, from the same file: checks need their own copy.
    let config = match &input.file {
        Some(f) => dozor_config::load::<Config>(f).map_err(|e| scrubber.text(&e.to_string()))?,
        None => Config::default(),
    };
    let mut config = config;
    let state_dir = config.agent.resolved_state_dir();
    config
        .exporters
        .otlp
        .buffer
        .path
        .get_or_insert_with(|| state_dir.join("buffer"));
    let lines = crate::diagnose::collect(config, input.file.clone(), &input.paths, DIAGNOSE_BUDGET)
        .map_err(|e| e.to_string())?;
    Ok(vec![
        (
            "diagnose.txt".into(),
            scrubber
                .text(&crate::diagnose::render(&lines, false))
                .into_bytes(),
        ),
        (
            "diagnose.json".into(),
            scrubber
                .text(&crate::diagnose::render(&lines, true))
                .into_bytes(),
        ),
    ])
}

/// `agent.log`: the last lines of `--log`, else of `journalctl -u dozor-agent`.
pub fn logs(input: &Input, scrubber: &Scrubber) -> PartResult {
    let text = match &input.log {
        Some(file) => {
            tail(file, input.lines).map_err(|e| format!("reading {}: {e}", file.display()))?
        }
        None => journal(input.lines)?,
    };
    Ok(vec![(
        "agent.log".into(),
        scrubber.text(&text).into_bytes(),
    )])
}

/// The last `lines` lines of a file, reading at most [`MAX_LOG_BYTES`] of its end.
fn tail(file: &Path, lines: usize) -> std::io::Result<String> {
    let mut f = std::fs::File::open(file)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(MAX_LOG_BYTES);
    f.seek(SeekFrom::Start(start))?;
    let mut raw = Vec::new();
    f.take(MAX_LOG_BYTES).read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let all: Vec<&str> = text.lines().collect();
    let from = all.len().saturating_sub(lines);
    let mut out = all[from..].join("\n");
    out.push('\n');
    Ok(out)
}

/// `journalctl -u dozor-agent -n <lines>`, killed after 4 s.
fn journal(lines: usize) -> Result<String, String> {
    let mut child = std::process::Command::new("journalctl")
        .args(["-u", "dozor-agent", "--no-pager", "-o", "short-iso", "-n"])
        .arg(lines.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("no --log given and journalctl cannot run ({e}): pass --log FILE"))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(4);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("journalctl did not finish in 4 s: pass --log FILE".into());
            }
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "journalctl failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `buffer.txt`: the buffers' files, sizes and ages; never their contents.
pub fn buffer(input: &Input, _scrubber: &Scrubber) -> PartResult {
    let otlp = &input.config.exporters.otlp;
    let mut out = String::new();
    for (what, dir) in [
        ("metrics buffer", otlp.buffer.resolved_path()),
        ("logs outbox", crate::export::logs::resolved_path(otlp)),
    ] {
        out.push_str(&format!("# {what}: {}\n", dir.display()));
        match std::fs::read_dir(&dir) {
            Err(e) => out.push_str(&format!("  not readable: {e}\n")),
            Ok(entries) => {
                let mut rows: Vec<(String, u64, String)> = entries
                    .flatten()
                    .filter_map(|e| {
                        let m = e.metadata().ok()?;
                        if m.is_dir() {
                            return None;
                        }
                        let age = m
                            .modified()
                            .ok()
                            .and_then(|t| SystemTime::now().duration_since(t).ok())
                            .map_or("?".into(), |a| format!("{} s", a.as_secs()));
                        Some((e.file_name().to_string_lossy().into_owned(), m.len(), age))
                    })
                    .collect();
                rows.sort();
                let total: u64 = rows.iter().map(|r| r.1).sum();
                for (name, size, age) in &rows {
                    out.push_str(&format!("  {name}  {size} bytes  modified {age} ago\n"));
                }
                out.push_str(&format!("  {} files, {total} bytes\n", rows.len()));
            }
        }
    }
    Ok(vec![("buffer.txt".into(), out.into_bytes())])
}

/// `host.txt`: versions and host facts.
pub fn host(input: &Input, scrubber: &Scrubber) -> PartResult {
    let procfs = &input.paths.procfs;
    let read = |p: &str| std::fs::read_to_string(procfs.join(p)).unwrap_or_default();
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "unknown".into());
    let meminfo = read("meminfo");
    let mem = |key: &str| {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map_or("?".into(), |v| v.trim().to_string())
    };
    let uptime = read("uptime")
        .split_whitespace()
        .next()
        .and_then(|s| s.parse::<f64>().ok())
        .map_or("?".into(), |s| {
            format!("{:.0} s ({:.1} days)", s, s / 86_400.0)
        });
    let text = format!(
        "dozor-agent: {}\nhost: {}\nkernel: {}\nos: {os}\narch: {}\ncpus: {}\nmemory total: {}\nmemory available: {}\nuptime: {uptime}\nflare time (UTC): {}\n",
        env!("CARGO_PKG_VERSION"),
        hostname(),
        read("sys/kernel/osrelease").trim(),
        std::env::consts::ARCH,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        mem("MemTotal:"),
        mem("MemAvailable:"),
        utc_stamp(),
    );
    Ok(vec![("host.txt".into(), scrubber.text(&text).into_bytes())])
}

/// The kernel's host name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        })
        .unwrap_or_else(|| "host".into())
}

/// Now, as `20261207T090500Z`.
pub fn utc_stamp() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("log");
        std::fs::write(&f, "1\n2\n3\n4\n").unwrap();
        assert_eq!(super::tail(&f, 2).unwrap(), "3\n4\n");
        assert_eq!(super::tail(&f, 10).unwrap(), "1\n2\n3\n4\n");
    }

    #[test]
    fn stamp_shape() {
        let s = super::utc_stamp();
        assert_eq!(s.len(), 16, "{s}");
        assert!(s.starts_with("20") && s.ends_with('Z'), "{s}");
    }
}
