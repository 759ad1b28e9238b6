//! Parsing one request or response head with `httparse`, and the body framing its headers
//! give (RFC 9112 section 6.3).

use super::{Framing, Head};

/// Most header fields parsed per head; more is a parse failure.
const MAX_HEADERS: usize = 100;

/// What a head may start with when resynchronising: a status line or a request line with a
/// registered method (a fragment like `T /x` after a hole is not taken for a request `T`).
pub(super) const STARTS: [&[u8]; 10] = [
    b"HTTP/1.",
    b"GET ",
    b"POST ",
    b"PUT ",
    b"DELETE ",
    b"HEAD ",
    b"PATCH ",
    b"OPTIONS ",
    b"CONNECT ",
    b"TRACE ",
];

/// Whether `data` starts like a head (or, when short, like the beginning of one).
pub(super) fn plausible(data: &[u8]) -> bool {
    !data.is_empty()
        && STARTS.iter().any(|s| {
            let n = s.len().min(data.len());
            data.get(..n) == s.get(..n)
        })
}

pub(super) enum Parsed<'h> {
    Done(usize, Head<'h>),
    Partial,
    Bad,
}

/// Parses a request or response head at the start of `data`.
pub(super) fn parse(data: &[u8]) -> Parsed<'_> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let is_response = if data.len() >= 5 {
        data.starts_with(b"HTTP/")
    } else {
        b"HTTP/".starts_with(data)
    };
    if is_response {
        let mut r = httparse::Response::new(&mut headers);
        match r.parse(data) {
            Ok(httparse::Status::Complete(n)) => match (r.code, framing(r.headers, Framing::Close))
            {
                (Some(status), Some(framing)) => {
                    Parsed::Done(n, Head::Response { status, framing })
                }
                _ => Parsed::Bad,
            },
            Ok(httparse::Status::Partial) => Parsed::Partial,
            Err(_) => Parsed::Bad,
        }
    } else {
        let mut r = httparse::Request::new(&mut headers);
        match r.parse(data) {
            Ok(httparse::Status::Complete(n)) => {
                match (r.method, r.path, framing(r.headers, Framing::None)) {
                    (Some(method), Some(target), Some(framing)) => Parsed::Done(
                        n,
                        Head::Request {
                            method,
                            target,
                            framing,
                        },
                    ),
                    _ => Parsed::Bad,
                }
            }
            Ok(httparse::Status::Partial) => Parsed::Partial,
            Err(_) => Parsed::Bad,
        }
    }
}

/// Body framing from the headers (RFC 9112 section 6.3); `None` if they contradict themselves.
fn framing(headers: &[httparse::Header<'_>], otherwise: Framing) -> Option<Framing> {
    let mut length: Option<u64> = None;
    let mut chunked = false;
    for h in headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = h.value.rsplit(|b| *b == b',').next().unwrap_or_default();
            chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value.trim_ascii()).ok()?;
            let n: u64 = v.parse().ok()?;
            if length.is_some_and(|l| l != n) {
                return None;
            }
            length = Some(n);
        }
    }
    Some(match (chunked, length) {
        (true, _) => Framing::Chunked,
        (false, Some(n)) => Framing::Length(n),
        (false, None) => otherwise,
    })
}
