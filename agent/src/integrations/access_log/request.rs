//! One request as an access-log line tells it, whatever the format, and why a line is
//! refused: the shared pieces of [`super::format`] and [`super::json`].

use std::borrow::Cow;

/// What one line says about one request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Request<'a> {
    /// The method as logged (`GET`); [`dozor_red`] folds unknown ones into `_OTHER`.
    pub method: Cow<'a, str>,
    /// The path and query as logged (`/orders/7?x=1`); routes template it.
    pub target: Cow<'a, str>,
    /// The final status, 100 to 599.
    pub status: u16,
    /// The logged request time, seconds.
    pub duration_s: f64,
    /// When the request ended (the log's time), Unix nanoseconds; `None` when not logged.
    pub end_ns: Option<u64>,
    /// `$request_length`; `None` when not logged (left out of the size histogram).
    pub request_bytes: Option<u64>,
    /// `$body_bytes_sent` / `%b`; `None` when not logged.
    pub response_bytes: Option<u64>,
    /// `$host` / `$server_name` when logged.
    pub host: Option<Cow<'a, str>>,
    /// `$server_port` when logged.
    pub port: Option<u16>,
}

impl Request<'_> {
    /// Refuses a request without a method or a target.
    pub fn check(&self) -> Result<(), Reject> {
        let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
        if token(&self.method) && token(&self.target) {
            Ok(())
        } else {
            Err(Reject::Request)
        }
    }
}

/// Why a line was refused: the `reason` of `dozor.access_log.lines.rejected`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// The line does not match the text format.
    Format,
    /// A `json` line that is not a JSON object.
    Json,
    /// No usable method and path (`"-"`, a TLS handshake sent to a plain port, a missing field).
    Request,
    /// No status from 100 to 599.
    Status,
    /// No request time, or not a non-negative number.
    Duration,
    /// A time field in none of the known forms.
    Time,
    /// Longer than `max_line_bytes`: skipped up to its newline.
    TooLong,
    /// The unfinished last line of a rotated file, which will never get its newline.
    Truncated,
}

impl Reject {
    /// Every reason, for exporting each from the start.
    pub const ALL: [Reject; 8] = [
        Reject::Format,
        Reject::Json,
        Reject::Request,
        Reject::Status,
        Reject::Duration,
        Reject::Time,
        Reject::TooLong,
        Reject::Truncated,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reject::Format => "format",
            Reject::Json => "json",
            Reject::Request => "request",
            Reject::Status => "status",
            Reject::Duration => "duration",
            Reject::Time => "time",
            Reject::TooLong => "too_long",
            Reject::Truncated => "truncated",
        }
    }
}

/// `GET /orders/7?x=1 HTTP/1.1` (or HTTP/0.9's `GET /`) as method and target.
pub fn request_line(value: &str) -> Result<(Cow<'_, str>, Cow<'_, str>), Reject> {
    let mut parts = value.split(' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(Reject::Request);
    };
    match (parts.next(), parts.next()) {
        (None, _) => {}
        (Some(proto), None) if proto.starts_with("HTTP/") => {}
        _ => return Err(Reject::Request),
    }
    Ok((Cow::Borrowed(method), Cow::Borrowed(target)))
}

/// A status from 100 to 599.
pub fn status(value: &str) -> Result<u16, Reject> {
    match value.parse::<u16>() {
        Ok(s) if (100..=599).contains(&s) && value.len() == 3 => Ok(s),
        _ => Err(Reject::Status),
    }
}

/// A byte count; `-` (Apache's `%b` for none) is 0.
pub fn bytes(value: &str) -> Result<u64, Reject> {
    if value == "-" {
        return Ok(0);
    }
    value.parse().map_err(|_| Reject::Format)
}
