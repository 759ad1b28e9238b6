//! Attributes: `KeyValue` and `AnyValue` (common/v1), at every level and nested in arrays and
//! key-value lists, counted and costed decoded and as label values.

use super::wire::{Field, Fields};
use super::{MAX_DEPTH, Over, Tally, pushed, string};
use dozor_metrics::otlp::common::v1::{AnyValue, KeyValue};
use std::fmt::Write;

/// `Debug` bytes of one message node (`AnyValue { value: Some(ArrayValue(ArrayValue { values: [`
/// and its closing, or `KeyValue { key: "", value: Some(` ... `, key_strindex: 0 }, `).
const DEBUG_NODE: u64 = 64;
/// `Debug` bytes of a scalar (`IntValue(-9223372036854775808)`, `DoubleValue(-1.2e-308)`).
const DEBUG_SCALAR: u64 = 32;
/// A bool or integer as a label value (`to_string`).
const SCALAR_LABEL: u64 = 48;

/// One attribute as translation sees it.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Label {
    /// Key length.
    pub key: u64,
    /// Bytes of the label value string (`translate::value_string`).
    pub value: u64,
    /// Length of the pair's `Debug` form, when nested in another value.
    debug: u64,
}

impl Label {
    /// Bytes translation allocates for this attribute as a point label: the sanitised name
    /// (prefixes may double its capacity) and the value, joined with others of the same name.
    pub(super) fn point_label(&self) -> u64 {
        self.key
            .saturating_mul(2)
            .saturating_add(18)
            .saturating_add(self.value.saturating_mul(2))
    }
}

/// The attributes of one repeated `KeyValue` field of one message occurrence.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Attributes {
    /// Pairs.
    pub n: u64,
    /// Sum of [`Label::point_label`].
    pub labels: u64,
    /// Sum of key lengths plus value label lengths.
    pub plain: u64,
}

impl Attributes {
    /// Scans one `KeyValue` of this field.
    pub(super) fn add(&mut self, bytes: &[u8], t: &mut Tally) -> Result<(), Over> {
        let label = key_value(bytes, 1, t)?;
        self.n += 1;
        self.labels = self.labels.saturating_add(label.point_label());
        self.plain = self
            .plain
            .saturating_add(label.key.saturating_add(label.value));
        Ok(())
    }

    /// Charges the `Vec<KeyValue>` that holds them.
    pub(super) fn finish(self, t: &mut Tally) -> Self {
        t.heap(pushed::<KeyValue>(self.n));
        self
    }

    /// Merges another occurrence's counts (a field repeated on the wire).
    pub(super) fn merge(&mut self, other: Attributes) {
        self.n += other.n;
        self.labels = self.labels.saturating_add(other.labels);
        self.plain = self.plain.saturating_add(other.plain);
    }
}

/// Scans one `KeyValue` at nesting `depth` (1 for a top-level attribute).
pub(super) fn key_value(bytes: &[u8], depth: u32, t: &mut Tally) -> Result<Label, Over> {
    t.attributes(1)?;
    let mut label = Label::default();
    // Nearly every pair is a short key then a short value, in that order: read them directly.
    // Anything else takes the general walk below, which gives the same result for these.
    if let Some((key, value)) = short_pair(bytes) {
        t.heap(string(key.len()));
        label.key = key.len() as u64;
        let text = any_value(value, depth, t)?;
        label.value = text.label;
        label.debug = text
            .debug
            .saturating_add(DEBUG_NODE)
            .saturating_add(label.key.saturating_mul(6));
        return Ok(label);
    }
    for (number, field) in Fields::new(bytes) {
        match (number, field) {
            (1, Field::Bytes(key)) => {
                t.heap(string(key.len()));
                label.key = label.key.max(key.len() as u64);
            }
            (2, Field::Bytes(value)) => {
                let text = any_value(value, depth, t)?;
                label.value = label.value.max(text.label);
                label.debug = label.debug.max(text.debug);
            }
            _ => {}
        }
    }
    label.debug = label
        .debug
        .saturating_add(DEBUG_NODE)
        .saturating_add(label.key.saturating_mul(6));
    Ok(label)
}

/// `(key, value)` of a `KeyValue` encoded as exactly a key shorter than 128 bytes (field 1)
/// then a value shorter than 128 bytes (field 2).
fn short_pair(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let [0x0a, k, rest @ ..] = bytes else {
        return None;
    };
    let (key, rest) = rest.split_at_checked(usize::from(*k).min(0x7f + 1))?;
    let [0x12, v, value @ ..] = rest else {
        return None;
    };
    (*k < 0x80 && *v < 0x80 && usize::from(*v) == value.len()).then_some((key, value))
}

/// An `AnyValue` as text.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Text {
    /// Bytes of the label value string.
    pub label: u64,
    /// Length of its `Debug` form.
    pub debug: u64,
}

impl Text {
    /// The last oneof field wins in prost; the largest is kept here.
    fn take(&mut self, label: u64, debug: u64) {
        self.label = self.label.max(label);
        self.debug = self.debug.max(debug.saturating_add(DEBUG_NODE));
    }

    /// A value translation writes with `format!("{:?}")`: the `String` grows as it is written.
    fn formatted(&mut self, debug: u64) {
        self.take(debug.saturating_mul(2).saturating_add(8), debug);
    }
}

/// Scans one `AnyValue` at nesting `depth`.
pub(super) fn any_value(bytes: &[u8], depth: u32, t: &mut Tally) -> Result<Text, Over> {
    let mut text = Text::default();
    if let [0x0a, n, s @ ..] = bytes
        && *n < 0x80
        && usize::from(*n) == s.len()
    {
        // A short string, the usual value: what the walk below does for field 1.
        t.heap(string(s.len()));
        let n = s.len() as u64;
        text.take(n, n.saturating_mul(6).saturating_add(DEBUG_SCALAR));
        return Ok(text);
    }
    for (number, field) in Fields::new(bytes) {
        match (number, field) {
            (1, Field::Bytes(s)) => {
                t.heap(string(s.len()));
                let n = s.len() as u64;
                text.take(n, n.saturating_mul(6).saturating_add(DEBUG_SCALAR));
            }
            (2 | 3 | 8, Field::Varint(_)) => text.take(SCALAR_LABEL, DEBUG_SCALAR),
            (4, Field::I64(bits)) => {
                let shown = display_len(f64::from_bits(bits));
                text.take(shown.saturating_mul(2).saturating_add(8), DEBUG_SCALAR);
            }
            (5, Field::Bytes(array)) => text.formatted(nested(array, depth, t, array_value)?),
            (6, Field::Bytes(list)) => text.formatted(nested(list, depth, t, kvlist_value)?),
            (7, Field::Bytes(b)) => {
                t.heap(string(b.len()));
                text.formatted(
                    (b.len() as u64)
                        .saturating_mul(5)
                        .saturating_add(DEBUG_SCALAR),
                );
            }
            _ => {}
        }
    }
    Ok(text)
}

type Walk = fn(&[u8], u32, &mut Tally) -> Result<u64, Over>;

/// Walks an array or key-value list below `depth`, or charges it conservatively when too deep.
fn nested(bytes: &[u8], depth: u32, t: &mut Tally, walk: Walk) -> Result<u64, Over> {
    if depth < MAX_DEPTH {
        return walk(bytes, depth + 1, t);
    }
    // Unwalked: every two bytes may be a key-value pair (key and value empty), each costing
    // a `KeyValue` slot (twice, as pushed) and its `Debug` node.
    let len = bytes.len() as u64;
    t.attributes(len.div_ceil(2))?;
    let slot = std::mem::size_of::<KeyValue>().max(std::mem::size_of::<AnyValue>()) as u64;
    t.heap(len.saturating_mul(slot + 8));
    Ok(len.saturating_mul(DEBUG_NODE))
}

/// `ArrayValue.values` (1); returns the `Debug` length of the elements.
fn array_value(bytes: &[u8], depth: u32, t: &mut Tally) -> Result<u64, Over> {
    let (mut n, mut debug) = (0u64, 0u64);
    for (number, field) in Fields::new(bytes) {
        if let (1, Field::Bytes(v)) = (number, field) {
            n += 1;
            debug = debug.saturating_add(any_value(v, depth, t)?.debug);
        }
    }
    t.heap(pushed::<AnyValue>(n));
    Ok(debug)
}

/// `KeyValueList.values` (1); returns the `Debug` length of the elements.
fn kvlist_value(bytes: &[u8], depth: u32, t: &mut Tally) -> Result<u64, Over> {
    let (mut n, mut debug) = (0u64, 0u64);
    for (number, field) in Fields::new(bytes) {
        if let (1, Field::Bytes(kv)) = (number, field) {
            n += 1;
            debug = debug.saturating_add(key_value(kv, depth, t)?.debug);
        }
    }
    t.heap(pushed::<KeyValue>(n));
    Ok(debug)
}

/// Length of `f.to_string()`, without allocating it (up to ~330 bytes for tiny subnormals).
fn display_len(f: f64) -> u64 {
    struct Count(u64);
    impl Write for Count {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0 += s.len() as u64;
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = write!(count, "{f}");
    count.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_short_pair_path_costs_what_the_walk_does() {
        let bounds = crate::receivers::prescan::Bounds {
            max_data_points: 10,
            max_attributes: 10,
            max_resources: 10,
        };
        let scan = |bytes: &[u8]| {
            let mut t = Tally::new(&bounds);
            let label = key_value(bytes, 1, &mut t).unwrap();
            (label.key, label.value, label.debug, t.cost)
        };
        // key "host.name" then the string "ws-17": the short path.
        let ordered = [&[0x0a, 9][..], b"host.name", &[0x12, 7, 0x0a, 5], b"ws-17"].concat();
        assert!(short_pair(&ordered).is_some());
        // The same pair with the value first: only the walk reads it.
        let reversed = [&[0x12, 7, 0x0a, 5][..], b"ws-17", &[0x0a, 9], b"host.name"].concat();
        assert!(short_pair(&reversed).is_none());
        assert_eq!(scan(&ordered), scan(&reversed));
        // A truncated or longer-than-it-says value is not taken by the short path.
        assert!(short_pair(&ordered[..ordered.len() - 1]).is_none());
        assert!(short_pair(&[&ordered[..], &[0]].concat()).is_none());
    }

    #[test]
    fn double_lengths_are_exact() {
        for f in [0.0, 1.5, 1e300, 5e-324, -f64::MAX, f64::NAN] {
            assert_eq!(display_len(f), f.to_string().len() as u64, "{f}");
        }
    }
}
