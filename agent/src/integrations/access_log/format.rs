//! Text access-log lines in an nginx `log_format`: the format string compiled once into
//! literals and variables, each line matched against it into one [`Request`]. The predefined
//! formats are format strings too: nginx's `combined` with ` $request_time` appended, and
//! Apache's `combined` with ` %D` appended (written here in nginx's variables).

use super::request::{Reject, Request, bytes, request_line, status};
use std::borrow::Cow;

/// nginx's `combined` plus ` $request_time` (seconds, millisecond resolution): the
/// `log_format` to put in nginx.conf for `format: nginx_combined`.
pub const NGINX_COMBINED: &str = "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" $request_time";

/// Apache's `combined` plus ` %D` (microseconds), `LogFormat "%h %l %u %t \"%r\" %>s %b
/// \"%{Referer}i\" \"%{User-agent}i\" %D"`, in nginx's variables (`$request_time_us` is `%D`).
pub const APACHE_COMBINED: &str = "$remote_addr $remote_ident $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" $request_time_us";

/// What a variable of the format fills in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    /// `$time_local`, `$time_iso8601` or `$msec`: when the request ended.
    Time,
    /// `$request`: `GET /orders/7?x=1 HTTP/1.1`.
    Request,
    /// `$request_method`.
    Method,
    /// `$request_uri` or `$uri`.
    Target,
    /// `$status`.
    Status,
    /// `$body_bytes_sent`.
    ResponseBytes,
    /// `$request_length`.
    RequestBytes,
    /// `$request_time`, seconds.
    Seconds,
    /// `$request_time_us` (Apache's `%D`), microseconds.
    Micros,
    /// `$host` or `$server_name`.
    Host,
    /// `$server_port`.
    Port,
    /// Any other variable: matched, not used.
    Skip,
}

impl Field {
    fn of(name: &str) -> Field {
        match name {
            "time_local" | "time_iso8601" | "msec" => Field::Time,
            "request" => Field::Request,
            "request_method" => Field::Method,
            "request_uri" | "uri" => Field::Target,
            "status" => Field::Status,
            "body_bytes_sent" => Field::ResponseBytes,
            "request_length" => Field::RequestBytes,
            "request_time" => Field::Seconds,
            "request_time_us" => Field::Micros,
            "host" | "server_name" => Field::Host,
            "server_port" => Field::Port,
            _ => Field::Skip,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Literal(String),
    Var(Field),
}

/// A compiled text format.
#[derive(Clone, Debug)]
pub struct TextFormat {
    tokens: Vec<Token>,
    /// Whether `$host`/`$server_name` and `$server_port` are logged.
    pub has_host: bool,
    /// Whether `$server_port` is logged.
    pub has_port: bool,
}

impl TextFormat {
    /// Compiles an nginx `log_format` string (`$name` and `${name}` variables). Unknown
    /// variables are matched and skipped; the error names what makes the format unusable.
    pub fn compile(format: &str) -> Result<TextFormat, String> {
        let mut tokens = Vec::new();
        let mut lit = String::new();
        let mut rest = format;
        while let Some(at) = rest.find('$') {
            lit.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let (name, tail) = if let Some(braced) = after.strip_prefix('{') {
                let end = braced.find('}').ok_or_else(|| {
                    format!("unclosed ${{ at byte {}", format.len() - rest.len() + at)
                })?;
                (&braced[..end], &braced[end + 1..])
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            };
            if name.is_empty() {
                return Err(format!(
                    "a $ without a variable name at byte {}",
                    format.len() - rest.len() + at
                ));
            }
            if !lit.is_empty() {
                tokens.push(Token::Literal(std::mem::take(&mut lit)));
            } else if let Some(Token::Var(_)) = tokens.last() {
                return Err(format!(
                    "${name} follows another variable with nothing between them: the line cannot be split there"
                ));
            }
            tokens.push(Token::Var(Field::of(name)));
            rest = tail;
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            tokens.push(Token::Literal(lit));
        }
        let has = |f: Field| tokens.contains(&Token::Var(f));
        if !has(Field::Status) {
            return Err("it has no $status".into());
        }
        if !(has(Field::Request) || (has(Field::Method) && has(Field::Target))) {
            return Err("it has no $request (nor $request_method with $request_uri)".into());
        }
        if !has(Field::Seconds) && !has(Field::Micros) {
            return Err("it has no $request_time: durations are what it is read for".into());
        }
        Ok(TextFormat {
            has_host: has(Field::Host),
            has_port: has(Field::Port),
            tokens,
        })
    }

    /// Matches one line (without its newline): each variable runs up to the first occurrence
    /// of the literal after it (nginx escapes `"` inside quoted values as `\x22`).
    pub fn parse<'a>(&self, line: &'a str) -> Result<Request<'a>, Reject> {
        let mut r = Request::default();
        let mut duration = None;
        let mut pos = 0;
        for (i, token) in self.tokens.iter().enumerate() {
            match token {
                Token::Literal(l) => {
                    if !line[pos..].starts_with(l.as_str()) {
                        return Err(Reject::Format);
                    }
                    pos += l.len();
                }
                Token::Var(field) => {
                    let end = match self.tokens.get(i + 1) {
                        Some(Token::Literal(next)) => {
                            pos + line[pos..].find(next.as_str()).ok_or(Reject::Format)?
                        }
                        _ => line.len(),
                    };
                    let value = &line[pos..end];
                    pos = end;
                    match field {
                        Field::Time => {
                            r.end_ns = Some(super::time::parse(value).ok_or(Reject::Time)?)
                        }
                        Field::Request => (r.method, r.target) = request_line(value)?,
                        Field::Method => r.method = Cow::Borrowed(value),
                        Field::Target => r.target = Cow::Borrowed(value),
                        Field::Status => r.status = status(value)?,
                        Field::ResponseBytes => r.response_bytes = Some(bytes(value)?),
                        Field::RequestBytes => r.request_bytes = Some(bytes(value)?),
                        Field::Seconds => duration = Some(seconds(value, 1.0)?),
                        Field::Micros => duration = Some(seconds(value, 1e6)?),
                        Field::Host => r.host = Some(Cow::Borrowed(value)),
                        Field::Port => r.port = value.parse().ok(),
                        Field::Skip => {}
                    }
                }
            }
        }
        if pos != line.len() {
            return Err(Reject::Format);
        }
        r.duration_s = duration.ok_or(Reject::Duration)?;
        r.check()?;
        Ok(r)
    }
}

/// A logged duration in seconds, from `per_second` units (1 for `$request_time`, 1e6 for
/// `%D`): divided, so `1234` µs is the double nearest 0.001234.
pub fn seconds(value: &str, per_second: f64) -> Result<f64, Reject> {
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 && !value.starts_with('+') => Ok(v / per_second),
        _ => Err(Reject::Duration),
    }
}
