//! Record framing: `[len: u32 LE][crc32 of payload: u32 LE][payload: len bytes]`.
//!
//! Pure functions over `Read`ers, so they are tested on literal bytes. Every reader is told how
//! many bytes remain in the file, so a garbage length can never make it allocate or read more
//! than the file holds.

use std::io::{self, BufRead, Read};

/// Bytes of the header in front of every payload.
pub(crate) const HEADER_LEN: u64 = 8;

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

/// Frames `payload` (which must be at most `u32::MAX` bytes) into one buffer, ready for a
/// single `write_all`.
pub(crate) fn encode(payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("caller checks the payload length");
    let mut out = Vec::with_capacity(payload.len() + HEADER_LEN as usize);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Reads the header of the next frame; `remaining` is the number of bytes left in the file.
fn header<R: Read>(r: &mut R, remaining: u64) -> io::Result<Frame<(u32, u32)>> {
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
    let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    if u64::from(len) > remaining - HEADER_LEN {
        return Ok(Frame::Torn);
    }
    Ok(Frame::Valid((len, crc)))
}

/// `read_exact` that reports a short read as `false` instead of an error.
fn read_exact<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<bool> {
    match r.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads the next record's payload into memory.
pub(crate) fn read<R: Read>(r: &mut R, remaining: u64) -> io::Result<Frame<Vec<u8>>> {
    let (len, crc) = match header(r, remaining)? {
        Frame::Valid(h) => h,
        Frame::End => return Ok(Frame::End),
        Frame::Torn => return Ok(Frame::Torn),
        Frame::Mismatch { len } => return Ok(Frame::Mismatch { len }),
    };
    let mut payload = vec![0u8; len as usize];
    if !read_exact(r, &mut payload)? {
        return Ok(Frame::Torn);
    }
    if crc32fast::hash(&payload) != crc {
        return Ok(Frame::Mismatch { len });
    }
    Ok(Frame::Valid(payload))
}

/// Checks the next record without holding its payload in memory; returns its payload length.
pub(crate) fn skip<R: BufRead>(r: &mut R, remaining: u64) -> io::Result<Frame<u32>> {
    let (len, crc) = match header(r, remaining)? {
        Frame::Valid(h) => h,
        Frame::End => return Ok(Frame::End),
        Frame::Torn => return Ok(Frame::Torn),
        Frame::Mismatch { len } => return Ok(Frame::Mismatch { len }),
    };
    let mut hasher = crc32fast::Hasher::new();
    let mut left = len as usize;
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
    if hasher.finalize() != crc {
        return Ok(Frame::Mismatch { len });
    }
    Ok(Frame::Valid(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[len=3][crc32("abc")=0x352441C2]["abc"]`
    const ABC: [u8; 11] = [3, 0, 0, 0, 0xC2, 0x41, 0x24, 0x35, b'a', b'b', b'c'];

    #[test]
    fn encodes_literal_bytes() {
        assert_eq!(encode(b"abc"), ABC);
        assert_eq!(encode(b""), [0, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn reads_literal_bytes() {
        let mut two = ABC.to_vec();
        two.extend_from_slice(&[0; 8]);
        let mut r = &two[..];
        assert_eq!(read(&mut r, 19).unwrap(), Frame::Valid(b"abc".to_vec()));
        assert_eq!(read(&mut r, 8).unwrap(), Frame::Valid(Vec::new()));
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
    fn every_flipped_payload_or_crc_byte_is_a_mismatch() {
        for i in 4..ABC.len() {
            let mut bytes = ABC;
            bytes[i] ^= 0x01;
            assert_eq!(
                read(&mut &bytes[..], 11).unwrap(),
                Frame::Mismatch { len: 3 },
                "byte {i}"
            );
            assert_eq!(
                skip(&mut &bytes[..], 11).unwrap(),
                Frame::Mismatch { len: 3 },
                "byte {i}"
            );
        }
    }

    #[test]
    fn huge_length_is_torn_without_allocating() {
        let bytes = [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 1];
        assert_eq!(read(&mut &bytes[..], 9).unwrap(), Frame::Torn);
    }

    #[test]
    fn skip_reports_payload_length() {
        assert_eq!(skip(&mut &ABC[..], 11).unwrap(), Frame::Valid(3));
    }
}
