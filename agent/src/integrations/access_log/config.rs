//! `integrations.access_log`: which logs to follow, in which format, and the bounds on what
//! is read and kept.

use super::AccessLog;
use super::format::{APACHE_COMBINED, NGINX_COMBINED, TextFormat};
use super::json::JsonFields;
use super::tail::ReadFrom;
use crate::integrations::{Context, Instance, Instances, Integration};
use dozor_config::At;
use dozor_red::RoutesConfig;
use serde::Deserialize;
use std::path::PathBuf;

/// `integrations.access_log`: the logs to follow under `instances`, each on its own schedule.
pub type Config = Instances<InstanceConfig>;

/// The longest `max_line_bytes` accepted (the read buffer is one line long).
pub const MAX_LINE_LIMIT: usize = 16 << 20;

/// One access log of one web server (the server side of its requests).
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[cfg_attr(test, schemars(rename = "AccessLogInstanceConfig"))]
#[serde(default)]
pub struct InstanceConfig {
    /// The `access_log.instance` attribute of the integration's own series and the name of
    /// its position file: letters, digits, `_`, `-`, `.`; unique among the instances.
    pub name: String,
    /// The log file (one file: no globs), e.g. `/var/log/nginx/access.log`. Followed across
    /// rotations by rename (its first generation, `<path>.1`, is also looked at after a
    /// restart) and copytruncate. A missing file is no error: it is read once it appears.
    pub path: PathBuf,
    /// The `service.name` attribute of the RED series, e.g. `mes-api`.
    pub service: String,
    /// The line format: `nginx_combined`, `apache_combined`, `{custom: '<nginx log_format>'}`
    /// or `{json: {<field mapping>}}`.
    pub format: FormatConfig,
    /// The `server.address` attribute; when unset, the logged `$host`/`$server_name` (a
    /// client-sent Host header: prefer setting this).
    pub server_address: Option<String>,
    /// The `server.port` attribute; when unset, the logged `$server_port`.
    pub server_port: Option<u16>,
    /// How paths become `http.route`: patterns, OpenAPI files, automatic templating.
    pub routes: RoutesConfig,
    /// Most RED series (method, route, status) kept; requests beyond go to route `_other`,
    /// counted in `dozor.http.overflow.series`.
    pub max_series: usize,
    /// Where to start the very first time, when no position was saved: `end` (default: only
    /// requests from now on) or `beginning`.
    pub read_from: ReadFrom,
    /// Longest line read; longer lines are skipped to their newline and counted
    /// (`reason="too_long"`).
    pub max_line_bytes: usize,
    /// Most bytes read per collection; the rest is read by the next ones
    /// (`dozor.access_log.behind` shows how far behind).
    pub max_bytes_per_collect: u64,
}

impl Default for InstanceConfig {
    fn default() -> Self {
        InstanceConfig {
            name: String::new(),
            path: PathBuf::new(),
            service: String::new(),
            format: FormatConfig::NginxCombined,
            server_address: None,
            server_port: None,
            routes: RoutesConfig::default(),
            max_series: 500,
            read_from: ReadFrom::End,
            max_line_bytes: 64 << 10,
            max_bytes_per_collect: 64 << 20,
        }
    }
}

/// The line format.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[cfg_attr(test, schemars(rename = "AccessLogFormat"))]
#[serde(rename_all = "snake_case")]
pub enum FormatConfig {
    /// nginx's `combined` followed by ` $request_time`:
    /// `log_format timed '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time';`
    NginxCombined,
    /// Apache's `combined` followed by ` %D` (microseconds):
    /// `LogFormat "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\" %D" timed`.
    ApacheCombined,
    /// An nginx `log_format` string, copied from nginx.conf. `$status`, `$request` (or
    /// `$request_method` with `$request_uri`) and `$request_time` are needed; also read are
    /// `$time_local`/`$time_iso8601`/`$msec`, `$body_bytes_sent`, `$request_length`,
    /// `$host`/`$server_name` and `$server_port`; other variables are matched and skipped.
    Custom(String),
    /// One JSON object per line, with the fields named by this mapping.
    Json(Box<JsonFields>),
}

/// A compiled format: what each line is parsed with.
#[derive(Clone, Debug)]
pub enum Parser {
    /// A text format.
    Text(TextFormat),
    /// JSON lines.
    Json(Box<JsonFields>),
}

impl FormatConfig {
    /// The parser; the error says what is wrong with a custom format.
    pub fn parser(&self) -> Result<Parser, String> {
        match self {
            FormatConfig::NginxCombined => TextFormat::compile(NGINX_COMBINED).map(Parser::Text),
            FormatConfig::ApacheCombined => TextFormat::compile(APACHE_COMBINED).map(Parser::Text),
            FormatConfig::Custom(f) => TextFormat::compile(f).map(Parser::Text),
            FormatConfig::Json(fields) => Ok(Parser::Json(fields.clone())),
        }
    }
}

impl Parser {
    /// Whether lines carry the server's name and port.
    fn logs_host_and_port(&self) -> (bool, bool) {
        match self {
            Parser::Text(t) => (t.has_host, t.has_port),
            Parser::Json(j) => (j.host.is_some(), j.server_port.is_some()),
        }
    }
}

impl Instance for InstanceConfig {
    const LIST: &'static str = "instances";
    const NOUN: &'static str = "instance";
    const LABEL: &'static str = "access_log.instance";

    fn name(&self) -> &str {
        &self.name
    }

    fn check_name(name: &str) -> Result<(), String> {
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
        if name.is_empty() || !name.chars().all(ok) || name.starts_with('.') {
            Err("must be letters, digits, _, - and . (it names the position file and becomes access_log.instance)".into())
        } else {
            Ok(())
        }
    }

    fn validate(&self, at: &mut At<'_>) {
        if !self.path.is_absolute() {
            at.error("path", "must be an absolute path to the log file");
        }
        if self.service.trim().is_empty() {
            at.error("service", "must be set (it becomes service.name)");
        }
        match self.format.parser() {
            Err(why) => at.error("format", format!("unusable format: {why}")),
            Ok(p) => {
                let (host, port) = p.logs_host_and_port();
                if self.server_address.is_none() && !host {
                    at.error(
                        "server_address",
                        "must be set: the format logs no $host or $server_name",
                    );
                }
                if self.server_port.is_none() && !port {
                    at.error(
                        "server_port",
                        "must be set: the format logs no $server_port",
                    );
                }
            }
        }
        if let Err(e) = dozor_red::Routes::new(&self.routes) {
            at.error("routes", e.to_string());
        }
        at.at_least("max_series", self.max_series, 1);
        if !(256..=MAX_LINE_LIMIT).contains(&self.max_line_bytes) {
            at.error(
                "max_line_bytes",
                format!("must be from 256 to {MAX_LINE_LIMIT}"),
            );
        }
        at.at_least("max_bytes_per_collect", self.max_bytes_per_collect, 1 << 16);
    }

    fn build(&self, _timeout: std::time::Duration, ctx: &Context) -> Option<Box<dyn Integration>> {
        match AccessLog::new(self, &ctx.state_dir, ctx.save_state) {
            Ok(a) => Some(Box::new(a)),
            Err(e) => {
                tracing::error!(instance = %self.name, error = %e, "Access log not started.");
                None
            }
        }
    }
}
