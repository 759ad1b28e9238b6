//! Record framing:
//! `[len: u32 LE][weight: u32 LE][crc32 of weight bytes then payload: u32 LE][payload: len bytes]`.
//!
//! Pure functions over `Read`ers, so they are tested on literal bytes. Every reader is told how
//! many bytes remain in the file, so a garbage length can never make it allocate or read more
//! than the file holds.

use std::io::{self, BufRead, Read};

/// Bytes of the header in front of every payload.
pub(crate) const HEADER_LEN: u64 = 12;

/// What was found at a record boundary.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<T> {
    /// A whole record whose checksum matches.
    Valid(T),
    /// No bytes left: a clean end of file.
    End,
    /// The header or the payload it announces extends beyond the end of the file.
    Torn,
    /// A whole frame, announcing `len` payload bytes, whose payload does not match its checksum.
    Mismatch {
        /// The announced payload length.
        len: u32,
    },
}

/// The checksum of a record: its weight, then its payload.
fn checksum(weight: u32, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&weight.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Frames `payload` (which must be at most `u32::MAX` bytes) and its `weight` into one
/// buffer, ready for a single `write_all`.
pub(crate) fn encode(payload: &[u8], weight: u32) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("caller checks the payload length");
    let mut out = Vec::with_capacity(payload.len() + HEADER_LEN as usize);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&weight.to_le_bytes());
    out.extend_from_slice(&checksum(weight, payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// A record's header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// Payload length.
    pub len: u32,
    /// The caller's weight (data points).
    pub weight: u32,
    crc: u32,
}

/// Reads the header of the next frame; `remaining` is the number of bytes left in the file.
fn header<R: Read>(r: &mut R, remaining: u64) -> io::Result<Frame<Header>> {
    if remaining == 0 {
        return Ok(Frame::End);
    }
    if remaining < HEADER_LEN {
        return Ok(Frame::Torn);
    }
    let mut h = [0u8; HEADER_LEN as usize];
    if !read_exact(r, &mut h)? {
        return Ok(Frame::Torn);
    }
    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    let weight = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    let crc = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
    if u64::from(len) > remaining - HEADER_LEN {
        return Ok(Frame::Torn);
    }
    Ok(Frame::Valid(Header { len, weight, crc }))
}

/// `read_exact` that reports a short read as `false` instead of an error.
fn read_exact<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<bool> {
    match r.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads the next record's weight and payload into memory.
pub(crate) fn read<R: Read>(r: &mut R, remaining: u64) -> io::Result<Frame<(u32, Vec<u8>)>> {
    let Header { len, weight, crc } = match header(r, remaining)? {
        Frame::Valid(h) => h,
        Frame::End => return Ok(Frame::End),
        Frame::Torn => return Ok(Frame::Torn),
        Frame::Mismatch { len } => return Ok(Frame::Mismatch { len }),
    };
    let mut payload = vec![0u8; len as usize];
    if !read_exact(r, &mut payload)? {
        return Ok(Frame::Torn);
    }
    if checksum(weight, &payload) != crc {
        return Ok(Frame::Mismatch { len });
    }
    Ok(Frame::Valid((weight, payload)))
}

/// Checks the next record without holding its payload in memory; returns its header.
pub(crate) fn skip<R: BufRead>(r: &mut R, remaining: u64) -> io::Result<Frame<Header>> {
    let h = match header(r, remaining)? {
        Frame::Valid(h) => h,
        Frame::End => return Ok(Frame::End),
        Frame::Torn => return Ok(Frame::Torn),
        Frame::Mismatch { len } => return Ok(Frame::Mismatch { len }),
    };
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&h.weight.to_le_bytes());
    let mut left = h.len as usize;
    while left > 0 {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok(Frame::Torn);
        }
        let n = chunk.len().min(left);
        hasher.update(&chunk[..n]);
        r.consume(n);
        left -= n;
    }
    if hasher.finalize() != h.crc {
        return Ok(Frame::Mismatch { len: h.len });
    }
    Ok(Frame::Valid(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[len=3][weight=7][crc32(07 00 00 00 "abc")=0x92AE7920]["abc"]`
    const ABC: [u8; 15] = [
        3, 0, 0, 0, 7, 0, 0, 0, 0x20, 0x79, 0xAE, 0x92, b'a', b'b', b'c',
    ];

    #[test]
    fn encodes_literal_bytes() {
        assert_eq!(encode(b"abc", 7), ABC);
        assert_eq!(
            encode(b"", 0)[..8],
            [0, 0, 0, 0, 0, 0, 0, 0],
            "length and weight zero"
        );
    }

    #[test]
    fn reads_literal_bytes() {
        let mut two = ABC.to_vec();
        two.extend_from_slice(&encode(b"", 0));
        let mut r = &two[..];
        assert_eq!(
            read(&mut r, 27).unwrap(),
            Frame::Valid((7, b"abc".to_vec()))
        );
        assert_eq!(read(&mut r, 12).unwrap(), Frame::Valid((0, Vec::new())));
        assert_eq!(read(&mut r, 0).unwrap(), Frame::End);
    }

    #[test]
    fn every_cut_of_a_frame_is_torn() {
        for cut in 1..ABC.len() {
            let bytes = &ABC[..cut];
            assert_eq!(
                read(&mut &bytes[..], cut as u64).unwrap(),
                Frame::Torn,
                "cut {cut}"
            );
            assert_eq!(
                skip(&mut &bytes[..], cut as u64).unwrap(),
                Frame::Torn,
                "cut {cut}"
            );
        }
    }

    #[test]
    fn every_flipped_weight_payload_or_crc_byte_is_a_mismatch() {
        for i in 4..ABC.len() {
            let mut bytes = ABC;
            bytes[i] ^= 0x01;
            assert_eq!(
                read(&mut &bytes[..], 15).unwrap(),
                Frame::Mismatch { len: 3 },
                "byte {i}"
            );
            assert_eq!(
                skip(&mut &bytes[..], 15).unwrap(),
                Frame::Mismatch { len: 3 },
                "byte {i}"
            );
        }
    }

    #[test]
    fn huge_length_is_torn_without_allocating() {
        let bytes = [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(read(&mut &bytes[..], 13).unwrap(), Frame::Torn);
    }

    #[test]
    fn skip_reports_length_and_weight() {
        let Frame::Valid(h) = skip(&mut &ABC[..], 15).unwrap() else {
            panic!("valid frame expected");
        };
        assert_eq!((h.len, h.weight), (3, 7));
    }
}
