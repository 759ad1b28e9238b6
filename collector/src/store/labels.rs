//! A series' label set packed into one allocation.
//!
//! The store holds up to `max_series` of these, so each is a single boxed byte string of
//! length-prefixed names and values instead of a vector of `String` pairs: one allocation per
//! series instead of two per label, and comparison with an incoming point's labels needs none.

/// Sorted label pairs, packed as `len(name) name len(value) value ...` (LEB128 lengths).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LabelSet(Box<[u8]>);

impl LabelSet {
    /// Packs sorted label pairs.
    pub(crate) fn new(pairs: &[(String, String)]) -> Self {
        let len = pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
        let mut out = Vec::with_capacity(len);
        for (k, v) in pairs {
            put(&mut out, k.as_bytes());
            put(&mut out, v.as_bytes());
        }
        LabelSet(out.into_boxed_slice())
    }

    /// True when this set holds exactly `pairs`, in order.
    pub(crate) fn eq_pairs(&self, pairs: &[(String, String)]) -> bool {
        let mut rest: &[u8] = &self.0;
        for (k, v) in pairs {
            for want in [k.as_bytes(), v.as_bytes()] {
                match take(rest) {
                    Some((got, tail)) if got == want => rest = tail,
                    _ => return false,
                }
            }
        }
        rest.is_empty()
    }

    /// The pairs, as the exposition encoder wants them.
    pub(crate) fn to_pairs(&self) -> Vec<(String, String)> {
        self.iter().map(|(k, v)| (utf8(k), utf8(v))).collect()
    }

    /// The pairs, borrowed, as raw bytes (they were packed from `String`s).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let mut rest: &[u8] = &self.0;
        std::iter::from_fn(move || {
            let (k, tail) = take(rest)?;
            let (v, tail) = take(tail)?;
            rest = tail;
            Some((k, v))
        })
    }

    /// Orders like the unpacked pairs would (name, then value, pair by pair).
    pub(crate) fn cmp_pairs(&self, other: &LabelSet) -> std::cmp::Ordering {
        self.iter().cmp(other.iter())
    }

    /// Heap bytes held by this set.
    #[cfg(test)]
    pub(crate) fn heap_bytes(&self) -> usize {
        self.0.len()
    }
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut n = bytes.len();
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(bytes);
}

fn take(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut n = 0usize;
    let mut shift = 0;
    for (i, b) in buf.iter().enumerate() {
        n |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            let start = i + 1;
            let end = start.checked_add(n)?;
            return (end <= buf.len()).then(|| (&buf[start..end], &buf[end..]));
        }
        shift += 7;
        if shift >= usize::BITS {
            return None;
        }
    }
    None
}

/// The bytes were packed from `String`s, so this never replaces anything.
fn utf8(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn round_trip_and_compare() {
        let long = "x".repeat(300);
        let p = pairs(&[("a", ""), ("b", &long), ("job", "dozor-agent")]);
        let set = LabelSet::new(&p);
        assert_eq!(set.to_pairs(), p);
        let other = LabelSet::new(&pairs(&[("a", "x"), ("b", "")]));
        assert_eq!(
            set.cmp_pairs(&other),
            p.as_slice().cmp(&other.to_pairs()[..])
        );
        assert_eq!(other.cmp_pairs(&set), std::cmp::Ordering::Greater);
        assert!(set.eq_pairs(&p));
        assert!(!set.eq_pairs(&p[..2]));
        assert!(!set.eq_pairs(&pairs(&[("a", ""), ("b", &long), ("job", "other")])));
        assert!(!set.eq_pairs(&pairs(&[("ab", ""), ("", &long), ("job", "dozor-agent")])));
        // "a" "" "b" (300 bytes, two-byte length) "job" "dozor-agent"
        assert_eq!(
            set.heap_bytes(),
            (1 + 1) + 1 + (1 + 1) + (2 + 300) + (1 + 3) + (1 + 11)
        );
    }

    #[test]
    fn empty() {
        let set = LabelSet::new(&[]);
        assert!(set.eq_pairs(&[]));
        assert!(set.to_pairs().is_empty());
    }
}
