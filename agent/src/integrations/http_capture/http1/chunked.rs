//! Streaming decoder of the chunked transfer coding (RFC 9112 section 7.1): chunk sizes,
//! extensions and trailers are read byte by byte and never buffered; chunk data is counted and
//! skipped in bulk, so a body of any size costs a few bytes of state.

/// Where the decoder is inside a chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decoder {
    /// Reading the hex size (`digits` read so far).
    Size { size: u64, digits: u8 },
    /// Skipping a chunk extension up to the end of the line.
    Ext { size: u64 },
    /// After the CR that ends a size line.
    SizeLf { size: u64 },
    /// Inside chunk data, `left` bytes to go.
    Data { left: u64 },
    /// After chunk data: the CR.
    DataCr,
    /// After chunk data: the LF.
    DataLf,
    /// At the start of a trailer line (or of the empty line that ends the body).
    Trailer,
    /// Skipping a trailer field line.
    TrailerLine,
    /// After the CR of the final empty line.
    EndLf,
}

/// What one call to [`Decoder::feed`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Progress {
    /// All input used, body not finished.
    More,
    /// The body ended after this many input bytes.
    Done(usize),
    /// Not a chunked body.
    Bad,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::Size { size: 0, digits: 0 }
    }
}

impl Decoder {
    /// Decodes `input`, adding chunk data bytes to `body`.
    pub(super) fn feed(&mut self, input: &[u8], body: &mut u64) -> Progress {
        let mut i = 0;
        while i < input.len() {
            if let Decoder::Data { left } = *self {
                let take = left.min((input.len() - i) as u64);
                *body = body.saturating_add(take);
                i += take as usize;
                *self = if take == left {
                    Decoder::DataCr
                } else {
                    Decoder::Data { left: left - take }
                };
                continue;
            }
            let b = input[i];
            i += 1;
            *self = match (*self, b) {
                (Decoder::Size { size, digits }, _) if (b as char).is_ascii_hexdigit() => {
                    if digits >= 15 {
                        return Progress::Bad;
                    }
                    let d = u64::from((b as char).to_digit(16).unwrap_or(0));
                    Decoder::Size {
                        size: size * 16 + d,
                        digits: digits + 1,
                    }
                }
                (Decoder::Size { digits: 0, .. }, _) => return Progress::Bad,
                (Decoder::Size { size, .. }, b';' | b' ' | b'\t') => Decoder::Ext { size },
                (Decoder::Size { size, .. }, b'\r') => Decoder::SizeLf { size },
                (
                    Decoder::Size { size, .. } | Decoder::Ext { size } | Decoder::SizeLf { size },
                    b'\n',
                ) => {
                    if size == 0 {
                        Decoder::Trailer
                    } else {
                        Decoder::Data { left: size }
                    }
                }
                (Decoder::Ext { size }, _) => Decoder::Ext { size },
                (Decoder::DataCr, b'\r') => Decoder::DataLf,
                (Decoder::DataCr | Decoder::DataLf, b'\n') => Decoder::default(),
                (Decoder::Trailer, b'\r') => Decoder::EndLf,
                (Decoder::Trailer | Decoder::EndLf, b'\n') => return Progress::Done(i),
                (Decoder::TrailerLine, b'\n') => Decoder::Trailer,
                (Decoder::Trailer | Decoder::TrailerLine, _) => Decoder::TrailerLine,
                _ => return Progress::Bad,
            };
        }
        Progress::More
    }

    /// Whether `len` lost bytes fall inside the current chunk's data (framing survives them).
    pub(super) fn can_skip(self, len: u64) -> bool {
        matches!(self, Decoder::Data { left } if len < left)
    }

    /// The decoder after `len` lost bytes, if [`Decoder::can_skip`].
    pub(super) fn skip(self, len: u64) -> Decoder {
        match self {
            Decoder::Data { left } => Decoder::Data {
                left: left.saturating_sub(len),
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes() {
        let cases: &[(&str, &[&str], Progress, u64)] = &[
            (
                "simple",
                &["5\r\nhello\r\n0\r\n\r\nNEXT"],
                Progress::Done(15),
                5,
            ),
            (
                "split everywhere",
                &["1", "0\r", "\n0123456789abcdef\r", "\n0\r\n", "\r\n"],
                Progress::Done(2),
                16,
            ),
            (
                "extensions and trailers",
                &["3;name=\"v\"\r\nabc\r\n0;x\r\nTrailer: 1\r\nT2: 2\r\n\r\n"],
                Progress::Done(43),
                3,
            ),
            ("bare LF", &["2\nab\n0\n\n"], Progress::Done(8), 2),
            ("not hex", &["zz\r\n"], Progress::Bad, 0),
            ("too long size", &["1000000000000000\r\n"], Progress::Bad, 0),
            ("junk after data", &["1\r\naX"], Progress::Bad, 1),
            ("unfinished", &["A\r\n01234"], Progress::More, 5),
        ];
        for (name, parts, want, bytes) in cases {
            let mut d = Decoder::default();
            let mut body = 0;
            let mut last = Progress::More;
            for p in *parts {
                last = d.feed(p.as_bytes(), &mut body);
            }
            assert_eq!((last, body), (*want, *bytes), "{name}");
        }
    }

    #[test]
    fn skips_inside_data_only() {
        let mut d = Decoder::default();
        let mut body = 0;
        assert_eq!(d.feed(b"10\r\nab", &mut body), Progress::More);
        assert!(d.can_skip(10));
        let d = d.skip(10);
        assert!(!d.can_skip(4), "the gap reaches past the chunk");
        assert_eq!(d, Decoder::Data { left: 4 });
    }
}
