//! The PromQL lexer: tokens with their byte offsets. Grafana variables outside strings become a
//! duration (`$__rate_interval` and the other interval variables) or a number (anything else).

use super::Finding;

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    Ident(String),
    Number,
    Duration,
    Str(String),
    Op(&'static str),
    Punct(char),
    Eof,
}

pub fn lex(src: &str) -> Result<Vec<(Tok, usize)>, Finding> {
    const OPS: [&str; 15] = [
        "==", "!=", "<=", ">=", "=~", "!~", "+", "-", "*", "/", "%", "^", "<", ">", "=",
    ];
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut in_range = false;
    let word = |j: usize| {
        let mut k = j;
        while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'_' || b[k] == b'.') {
            k += 1;
        }
        k
    };
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'$' || src[i..].starts_with("[[") {
            // A Grafana variable: $name, ${name[:format]} or [[name]].
            let (name, end) = if src[i..].starts_with("${") {
                let end = src[i..].find('}').map(|e| i + e + 1).unwrap_or(b.len());
                (src[i + 2..end - 1].split(':').next().unwrap_or(""), end)
            } else if c == b'$' {
                let end = word(i + 1);
                (&src[i + 1..end], end)
            } else {
                let end = src[i..].find("]]").map(|e| i + e + 2).unwrap_or(b.len());
                (&src[i + 2..end - 2], end)
            };
            let interval = matches!(
                name,
                "__rate_interval" | "__interval" | "__range" | "__auto_interval"
            );
            out.push((if interval { Tok::Duration } else { Tok::Number }, start));
            i = end;
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let mut end = word(i);
            if matches!(b[end - 1], b'e' | b'E')
                && !src[i..end].starts_with("0x")
                && matches!(b.get(end), Some(b'+' | b'-'))
            {
                end = word(end + 1);
            }
            let text = &src[i..end];
            let tok = if is_duration(text) {
                Tok::Duration
            } else if text.parse::<f64>().is_ok()
                || text
                    .strip_prefix("0x")
                    .is_some_and(|h| u64::from_str_radix(h, 16).is_ok())
            {
                Tok::Number
            } else {
                return Err(Finding {
                    offset: start,
                    message: format!("`{text}` is neither a number nor a duration"),
                });
            };
            out.push((tok, start));
            i = end;
        } else if c.is_ascii_alphabetic() || c == b'_' || (c == b':' && !in_range) {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':') {
                i += 1;
            }
            out.push((Tok::Ident(src[start..i].to_string()), start));
        } else if matches!(c, b'"' | b'\'' | b'`') {
            let mut s = String::new();
            i += 1;
            loop {
                match b.get(i) {
                    None => {
                        return Err(Finding {
                            offset: start,
                            message: "unterminated string".into(),
                        });
                    }
                    Some(&q) if q == c => break,
                    Some(b'\\') if c != b'`' => {
                        s.push(b.get(i + 1).map_or('\\', |&e| e as char));
                        i += 2;
                    }
                    Some(_) => {
                        let ch = src[i..].chars().next().unwrap_or('?');
                        s.push(ch);
                        i += ch.len_utf8();
                    }
                }
            }
            i += 1;
            out.push((Tok::Str(s), start));
        } else if let Some(&op) = OPS.iter().find(|op| src[i..].starts_with(**op)) {
            out.push((Tok::Op(op), start));
            i += op.len();
        } else if b"(){}[],:@".contains(&c) {
            // Inside [...] a colon separates a subquery's range from its step.
            in_range = (in_range || c == b'[') && c != b']';
            out.push((Tok::Punct(c as char), start));
            i += 1;
        } else {
            return Err(Finding {
                offset: start,
                message: format!(
                    "unexpected character `{}`",
                    src[i..].chars().next().unwrap_or('?')
                ),
            });
        }
    }
    out.push((Tok::Eof, src.len()));
    Ok(out)
}

pub fn is_duration(s: &str) -> bool {
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ms", "s", "m", "h", "d", "w", "y"]
            .into_iter()
            .find(|u| rest.starts_with(u));
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    !s.is_empty()
}
