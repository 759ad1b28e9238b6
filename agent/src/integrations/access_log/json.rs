//! JSON-lines access logs (nginx `log_format ... escape=json '{...}'`, Caddy, application
//! servers): one object per line, its fields named by a configured mapping. Values may be JSON
//! numbers or strings holding numbers, as nginx writes them; a dotted name (`request.method`)
//! reaches into nested objects.

use super::format::seconds;
use super::request::{Reject, Request, bytes, request_line, status};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;

/// The unit of the logged request time.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    /// Seconds (nginx `$request_time`).
    #[default]
    S,
    /// Milliseconds.
    Ms,
    /// Microseconds (Apache `%D`).
    Us,
}

/// Which field of each JSON line holds what. The defaults fit nginx's
/// `log_format json escape=json '{"time":"$time_iso8601","method":"$request_method","uri":"$request_uri","status":"$status","request_time":"$request_time","body_bytes_sent":"$body_bytes_sent","request_length":"$request_length"}'`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[cfg_attr(test, schemars(rename = "AccessLogJsonFields"))]
#[serde(default)]
pub struct JsonFields {
    /// The request line (`GET /x HTTP/1.1`); when set, `method` and `path` are not read.
    pub request: Option<String>,
    /// The method.
    pub method: String,
    /// The path with its query (`$request_uri`).
    pub path: String,
    /// The final status.
    pub status: String,
    /// The request time, in `request_time_unit`.
    pub request_time: String,
    /// The unit of `request_time`: `s`, `ms` or `us`.
    pub request_time_unit: TimeUnit,
    /// Response body bytes; left out of the size histogram when the field is absent.
    pub response_bytes: String,
    /// Request bytes; left out of the size histogram when the field is absent.
    pub request_bytes: String,
    /// When the request ended: ISO 8601, `$time_local`, or seconds since the epoch (`$msec`).
    /// An absent field is fine (the time is used for nothing but ordering).
    pub time: String,
    /// The server's name, for `server.address` when `server_address` is unset.
    pub host: Option<String>,
    /// The server's port, for `server.port` when `server_port` is unset.
    pub server_port: Option<String>,
}

impl Default for JsonFields {
    fn default() -> Self {
        JsonFields {
            request: None,
            method: "method".into(),
            path: "uri".into(),
            status: "status".into(),
            request_time: "request_time".into(),
            request_time_unit: TimeUnit::S,
            response_bytes: "body_bytes_sent".into(),
            request_bytes: "request_length".into(),
            time: "time".into(),
            host: None,
            server_port: None,
        }
    }
}

fn get<'v>(obj: &'v Value, name: &str) -> Option<&'v Value> {
    name.split('.').try_fold(obj, |v, key| v.get(key))
}

/// A string value as is, a number as its text.
fn text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(s.as_str())),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

impl JsonFields {
    /// One line as a request.
    pub fn parse(&self, line: &str) -> Result<Request<'static>, Reject> {
        let v: Value = serde_json::from_str(line).map_err(|_| Reject::Json)?;
        if !v.is_object() {
            return Err(Reject::Json);
        }
        let field = |name: &str, why: Reject| get(&v, name).and_then(text).ok_or(why);
        let owned = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        let mut r = Request::default();
        if let Some(name) = &self.request {
            let line = field(name, Reject::Request)?;
            let (m, t) = request_line(&line)?;
            (r.method, r.target) = (owned(m), owned(t));
        } else {
            r.method = owned(field(&self.method, Reject::Request)?);
            r.target = owned(field(&self.path, Reject::Request)?);
        }
        r.status = status(&field(&self.status, Reject::Status)?)?;
        let unit = match self.request_time_unit {
            TimeUnit::S => 1.0,
            TimeUnit::Ms => 1e3,
            TimeUnit::Us => 1e6,
        };
        r.duration_s = seconds(&field(&self.request_time, Reject::Duration)?, unit)?;
        if let Ok(b) = field(&self.response_bytes, Reject::Format) {
            r.response_bytes = Some(bytes(&b)?);
        }
        if let Ok(b) = field(&self.request_bytes, Reject::Format) {
            r.request_bytes = Some(bytes(&b)?);
        }
        if let Ok(t) = field(&self.time, Reject::Time) {
            r.end_ns = Some(super::time::parse(&t).ok_or(Reject::Time)?);
        }
        if let Some(name) = &self.host {
            r.host = field(name, Reject::Format).ok().map(owned);
        }
        if let Some(name) = &self.server_port {
            r.port = field(name, Reject::Format)
                .ok()
                .and_then(|p| p.parse().ok());
        }
        r.check()?;
        Ok(r)
    }
}
