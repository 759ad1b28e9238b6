//! The protobuf wire format, read field by field without allocating.
//!
//! Only what the scan needs: keys, varints, fixed 32/64-bit values and length-delimited slices.
//! Groups (wire types 3 and 4) never appear in OTLP, but prost skips them as unknown fields and
//! decodes what follows, so they are skipped here too rather than ending the scan: stopping
//! early would let an attacker hide a whole request behind one group. Anything prost would
//! refuse (a truncated value, a length past the end, wire types 6 and 7, field number 0) ends
//! the iteration; decoding then reports the error, so what was counted before is enough.

/// A field's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Field<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1 (fixed64, sfixed64, double).
    I64(u64),
    /// Wire type 2: strings, bytes, messages, packed repeated scalars.
    Bytes(&'a [u8]),
    /// Wire type 5 (fixed32, sfixed32, float).
    I32,
}

/// The fields of one message, in wire order: `(field number, value)`.
pub(super) struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    /// The fields of the message encoded in `bytes`.
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Fields { rest: bytes }
    }

    /// Ends the iteration (malformed input).
    fn stop<T>(&mut self) -> Option<T> {
        self.rest = &[];
        None
    }

    #[inline]
    fn varint(&mut self) -> Option<u64> {
        // Keys and short lengths, nearly every varint of a request, are one byte.
        if let Some((&b, rest)) = self.rest.split_first()
            && b < 0x80
        {
            self.rest = rest;
            return Some(u64::from(b));
        }
        let mut value = 0u64;
        for (i, &b) in self.rest.iter().enumerate().take(10) {
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.rest = &self.rest[i + 1..];
                return Some(value);
            }
        }
        None
    }

    #[inline]
    fn take(&mut self, n: u64) -> Option<&'a [u8]> {
        let n = usize::try_from(n).ok().filter(|&n| n <= self.rest.len())?;
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Some(head)
    }

    /// Reads one key: `(field number, wire type)`.
    #[inline]
    fn key(&mut self) -> Option<(u32, u8)> {
        let key = u32::try_from(self.varint()?).ok()?;
        let number = key >> 3;
        (number != 0).then_some((number, (key & 7) as u8))
    }

    /// Skips the value of a non-group field; `None` when malformed.
    fn skip(&mut self, wire: u8) -> Option<()> {
        match wire {
            0 => self.varint().map(drop),
            1 => self.take(8).map(drop),
            2 => {
                let len = self.varint()?;
                self.take(len).map(drop)
            }
            5 => self.take(4).map(drop),
            _ => None,
        }
    }

    /// Skips a group whose start key was just read, nested groups included, without
    /// recursion. End keys must match their start keys, as prost requires.
    fn skip_group(&mut self, number: u32) -> Option<()> {
        // prost refuses groups nested deeper than its recursion limit (100).
        let mut open = [0u32; 100];
        open[0] = number;
        let mut depth = 1;
        while depth > 0 {
            let (n, wire) = self.key()?;
            match wire {
                3 => {
                    *open.get_mut(depth)? = n;
                    depth += 1;
                }
                4 if open[depth - 1] == n => depth -= 1,
                4 => return None,
                w => self.skip(w)?,
            }
        }
        Some(())
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = (u32, Field<'a>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let Some((number, wire)) = self.key() else {
                return self.stop();
            };
            let value = match wire {
                0 => self.varint().map(Field::Varint),
                1 => self
                    .take(8)
                    .map(|b| Field::I64(u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))),
                2 => self
                    .varint()
                    .and_then(|len| self.take(len))
                    .map(Field::Bytes),
                5 => self.take(4).map(|_| Field::I32),
                3 => match self.skip_group(number) {
                    Some(()) => continue,
                    None => None,
                },
                _ => None,
            };
            return match value {
                Some(v) => Some((number, v)),
                None => self.stop(),
            };
        }
    }
}

/// Elements of a repeated 64-bit scalar field (fixed64, double), packed or not.
pub(super) fn count_i64(field: Field<'_>) -> u64 {
    match field {
        Field::I64(_) => 1,
        Field::Bytes(b) => (b.len() / 8) as u64,
        _ => 0,
    }
}

/// Elements of a repeated varint field, packed or not: each varint ends with a byte below 0x80.
pub(super) fn count_varints(field: Field<'_>) -> u64 {
    match field {
        Field::Varint(_) => 1,
        Field::Bytes(b) => b.iter().filter(|&&x| x < 0x80).count() as u64,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_wire_type() {
        // 1: varint 150; 2: "hi"; 3: fixed64; 4: fixed32.
        let mut b = vec![0x08, 0x96, 0x01, 0x12, 2, b'h', b'i', 0x19];
        b.extend(7u64.to_le_bytes());
        b.extend([0x25, 1, 2, 3, 4]);
        let got: Vec<_> = Fields::new(&b).collect();
        assert_eq!(
            got,
            [
                (1, Field::Varint(150)),
                (2, Field::Bytes(b"hi")),
                (3, Field::I64(7)),
                (4, Field::I32)
            ]
        );
    }

    #[test]
    fn groups_are_skipped_and_what_follows_is_read() {
        // group 5 { varint 1, group 6 { "x" } }, then field 1 = 9.
        let b = [0x2b, 0x08, 0x01, 0x33, 0x0a, 1, b'x', 0x34, 0x2c, 0x08, 9];
        let got: Vec<_> = Fields::new(&b).collect();
        assert_eq!(got, [(1, Field::Varint(9))]);
        // Mismatched end group: malformed, as prost says.
        assert_eq!(Fields::new(&[0x2b, 0x34, 0x08, 1]).count(), 0);
    }

    #[test]
    fn malformed_input_ends_the_iteration() {
        for b in [
            &[0x08][..],      // varint missing
            &[0x12, 5, b'a'], // length past the end
            &[0x0e],          // wire type 6
            &[0x00, 0x01],    // field 0
            &[0x80; 11],      // key varint too long
            &[0x09, 1, 2, 3], // fixed64 truncated
            &[0x2c],          // end group without start
        ] {
            assert_eq!(Fields::new(b).count(), 0, "{b:?}");
        }
    }

    #[test]
    fn packed_and_unpacked_counts() {
        assert_eq!(count_varints(Field::Bytes(&[1, 0x96, 0x01, 0x7f])), 3);
        assert_eq!(count_varints(Field::Varint(3)), 1);
        assert_eq!(count_i64(Field::Bytes(&[0; 24])), 3);
        assert_eq!(count_i64(Field::I64(0)), 1);
    }
}
