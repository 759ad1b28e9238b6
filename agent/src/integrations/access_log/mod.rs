//! `access_log`: HTTP RED of a web server from its access log (nginx, Apache, a custom nginx
//! `log_format`, or JSON lines), under the same `http.server.*` names and route rules as packet
//! capture and spans ([`dozor_red`]).
//!
//! Each instance follows one file ([`tail`]): rotation by rename or copytruncate, inode reuse,
//! unfinished and over-long lines. Every complete line is parsed once ([`format`], [`json`])
//! into a request whose logged request time is its duration (it ended at the logged time) and
//! recorded into cumulative histograms in memory, which start again at a restart like every
//! counter of the agent. After each collection the position is saved ([`position`]), so a
//! restarted agent goes on from the next line: nothing counted twice, nothing skipped. Only a
//! crash between a collection and its save (milliseconds) makes that collection's lines be
//! read again.

pub mod config;
mod file;
pub mod format;
pub mod json;
pub mod position;
pub mod request;
pub mod tail;
mod time;

#[cfg(test)]
mod tests;

pub use config::{Config, InstanceConfig, Parser};

use super::{Integration, IntegrationError};
use dozor_metrics::catalogue::access_log as m;
use dozor_metrics::sample::Recorder;
use dozor_red::{Exchange, Red, RedConfig, Routes, Side};
use request::Reject;
use std::path::{Path, PathBuf};
use tail::{Event, Tail};

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// One followed log.
pub struct AccessLog {
    name: String,
    instance: String,
    log: PathBuf,
    tail: Tail,
    lines: Lines,
    budget: u64,
    read: u64,
    /// Where the position is saved; `None` in `collect --once`.
    state_file: Option<PathBuf>,
    since_ns: u64,
    /// Whether the missing file was logged (once, until it appears).
    told_missing: bool,
}

/// What becomes of the lines: parsed into the RED aggregation, or counted as rejected.
struct Lines {
    service: String,
    address: Option<String>,
    port: Option<u16>,
    parser: Parser,
    red: Red,
    parsed: u64,
    rejected: [u64; Reject::ALL.len()],
}

impl AccessLog {
    /// The integration for `config`, from the position saved in `state_dir`; it saves its
    /// position there only when `save`.
    pub fn new(config: &InstanceConfig, state_dir: &Path, save: bool) -> Result<AccessLog, String> {
        let parser = config.format.parser()?;
        let routes = Routes::new(&config.routes).map_err(|e| e.to_string())?;
        let file = position::path(state_dir, &config.name);
        let saved = position::load(&file, &config.path)
            .map_err(|e| format!("reading the position file {}: {e}", file.display()))?;
        let red = RedConfig {
            max_series: config.max_series,
            ..RedConfig::default()
        };
        Ok(AccessLog {
            name: format!("access_log/{}", config.name),
            instance: config.name.clone(),
            log: config.path.clone(),
            tail: Tail::new(&config.path, saved, config.read_from, config.max_line_bytes),
            lines: Lines {
                service: config.service.clone(),
                address: config.server_address.clone(),
                port: config.server_port,
                parser,
                red: Red::new(routes, red),
                parsed: 0,
                rejected: [0; Reject::ALL.len()],
            },
            budget: config.max_bytes_per_collect,
            read: 0,
            state_file: save.then_some(file),
            since_ns: now_ns(),
            told_missing: false,
        })
    }

    fn record_own(&self, rec: &mut Recorder, behind: Option<u64>) {
        let i = self.instance.as_str();
        let since = Some(self.since_ns);
        rec.record_since(&m::LINES_PARSED, self.lines.parsed as f64, &[i], since);
        for (why, n) in Reject::ALL.iter().zip(self.lines.rejected) {
            rec.record_since(&m::LINES_REJECTED, n as f64, &[i, why.as_str()], since);
        }
        let r = self.tail.rotations;
        for (kind, n) in [
            ("rename", r.rename),
            ("truncate", r.truncate),
            ("replaced", r.replaced),
        ] {
            rec.record_since(&m::ROTATIONS, n as f64, &[i, kind], since);
        }
        rec.record_since(&m::BYTES_READ, self.read as f64, &[i], since);
        if let Some(b) = behind {
            rec.record(&m::BYTES_BEHIND, b as f64, &[i]);
        }
    }
}

impl Lines {
    /// Parses one line and records its request.
    fn line(&mut self, bytes: &[u8], now: u64) {
        let text = String::from_utf8_lossy(bytes);
        let parsed = match &self.parser {
            Parser::Text(t) => t.parse(&text),
            Parser::Json(j) => j.parse(&text),
        };
        let r = match parsed {
            Ok(r) => r,
            Err(why) => return self.reject(why),
        };
        let end_ns = r.end_ns.unwrap_or(now);
        let duration_ns = (r.duration_s * 1e9).round() as u64;
        let ex = Exchange {
            side: Side::Server,
            service: &self.service,
            method: &r.method,
            target: &r.target,
            status: r.status,
            server_address: self
                .address
                .as_deref()
                .or(r.host.as_deref())
                .unwrap_or_default(),
            server_port: self.port.or(r.port).unwrap_or_default(),
            start_ns: end_ns.saturating_sub(duration_ns),
            end_ns: end_ns.max(duration_ns),
            request_bytes: r.request_bytes,
            response_bytes: r.response_bytes,
        };
        if self.red.observe(&ex) {
            self.parsed += 1;
        } else {
            self.reject(Reject::Status);
        }
    }

    fn reject(&mut self, why: Reject) {
        self.rejected[Reject::ALL.iter().position(|r| *r == why).unwrap_or(0)] += 1;
    }
}

impl Integration for AccessLog {
    fn name(&self) -> &str {
        &self.name
    }

    fn collect(&mut self, rec: &mut Recorder) -> Result<(), IntegrationError> {
        let now = now_ns();
        let lines = &mut self.lines;
        let result = self.tail.read(self.budget, &mut |ev| match ev {
            Event::Line(l) => lines.line(l, now),
            Event::TooLong => lines.reject(Reject::TooLong),
            Event::Truncated => lines.reject(Reject::Truncated),
        });
        if let Ok(p) = &result {
            self.read += p.read;
        }
        let missing = result.is_ok() && !self.tail.is_open();
        if missing && !self.told_missing {
            // Not an error (a server not installed or not started yet); said once.
            tracing::warn!(integration = %self.name, path = %self.log.display(), "Access log not found; it is read from its first line once it appears.");
        }
        self.told_missing = missing;
        self.lines.red.record(now, rec);
        self.record_own(rec, result.as_ref().ok().map(|p| p.behind));
        if let Some(file) = &self.state_file {
            position::save(file, &self.log, &self.tail.saved()).map_err(|e| {
                IntegrationError::new(
                    "io",
                    format!(
                        "{}: cannot write the position file {}: {e}; check agent.state_dir",
                        self.name,
                        file.display()
                    ),
                )
            })?;
        }
        result.map(|_| ()).map_err(|e| {
            IntegrationError::new(
                "io",
                format!("{}: reading {}: {e}", self.name, self.log.display()),
            )
        })
    }
}
