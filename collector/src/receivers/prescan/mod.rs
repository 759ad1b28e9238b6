//! What a request will cost once decoded, counted on the wire before anything is built.
//!
//! An OTLP request is cheap on the wire and expensive in memory: an empty data point is two
//! bytes of protobuf and about a hundred once decoded, translated and stored. [`metrics`] and
//! [`logs`] walk the protobuf encoding without allocating, count resources and scopes, data
//! points (or log records) and attributes at every level, stop at the first bound exceeded,
//! and estimate the bytes decoding and translating the request will allocate, which the memory
//! limiter charges before the request is decoded. The walk follows the OTLP schema
//! (opentelemetry-proto 1.x, field numbers checked against the generated prost types), skips
//! unknown fields, takes packed and unpacked repeated scalars, and costs O(wire bytes).
//!
//! # The estimate (`Cost::decoded_bytes`)
//!
//! An upper bound, not a measurement; `tests/prescan_cost.rs` checks it against the peak heap
//! of decoding and translating adversarial and ordinary requests.
//!
//! Decoding (prost) allocates:
//! - per repeated field of each message occurrence holding `n` elements of type `T`:
//!   `max(4, 2n) × size_of::<T>()`. prost pushes elements one at a time, and a `Vec` grown by
//!   push has a capacity of at most `max(4, 2n)`; charging each occurrence separately stays an
//!   upper bound when prost merges repeated occurrences of a message into one `Vec`. Packed
//!   scalars are elements like any other (8 bytes decoded, even for a 1-byte varint).
//! - per non-empty string or bytes field: its length + 8 (prost reserves the exact length; a
//!   `Vec<u8>` allocates at least 8).
//!
//! Translation (`dozor_metrics::translate`, as `Pipeline::export` runs it) allocates:
//! - per data point of any type: `size_of::<Point>()` + 8, the capacity `store_request`
//!   reserves for points and their timestamps; per resource, the same for its `target_info`.
//! - per point translation keeps (a number point with a value, a histogram point, both without
//!   the no-recorded-value flag, of a metric with a name): its family name (at most the metric
//!   name + 12 × the unit + 16), its help (the description), its label `Vec` (at most
//!   `48 × max(4, 2 × labels)`), each attribute label (`2 × key + 18 + 2 × value`: sanitising,
//!   `key_`/`exported_` prefixes and joined duplicate names included), the histogram's cloned
//!   bounds and counts, and the resource labels. Which resource attributes are promoted to
//!   labels (`resource_to_labels`) is not known here, so all of them are assumed promoted.
//! - per resource: its identity map, `target_info` labels and base labels, per attribute
//!   `3 × (2 × key + 8 + value) + 432`, plus 1 KiB.
//! - per named metric: `20 × name + 16 × unit + 64`, the name's sanitised copy and tokens.
//! - once: the scratch of sorting the longest label list (48 bytes a label).
//!
//! A label value is the attribute as `value_string` writes it: a string's length; 48 for a
//! bool or integer; twice a double's exact decimal length + 8 (the `String` grows while
//! written); twice the estimated `Debug` length + 8 for arrays, key-value lists and bytes
//! (64 per node, 6 per string byte for escapes, 5 per byte of bytes).
//!
//! # Nesting
//!
//! Array and key-value-list values nest. Every nested key-value pair counts as an attribute.
//! Values nested deeper than [`MAX_DEPTH`] are not walked: their bytes are charged as if every
//! two of them were a key-value pair (the smallest encoding of one), for both the attribute
//! count and the estimate, so the scan's recursion stays bounded. prost refuses messages
//! nested more than 100 deep (about 46 levels of arrays inside an OTLP data point), so the
//! conservative charge only ever applies to a few levels nobody sends.

mod logs;
mod metrics;
#[cfg(test)]
mod tests;
mod traces;
mod values;
mod wire;

/// How deep array and key-value-list values are walked.
pub const MAX_DEPTH: u32 = 32;

/// Bounds on one request (`limits.request`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Data points (every type) or log records.
    pub max_data_points: u64,
    /// Key-value pairs at every level.
    pub max_attributes: u64,
    /// Resource and scope entries.
    pub max_resources: u64,
}

impl From<&crate::config::RequestLimits> for Bounds {
    fn from(r: &crate::config::RequestLimits) -> Self {
        Bounds {
            max_data_points: r.max_data_points,
            max_attributes: r.max_attributes,
            max_resources: r.max_resources,
        }
    }
}

/// What a request holds, and what it will cost decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// Resource and scope entries.
    pub resources: u64,
    /// Data points or log records.
    pub data_points: u64,
    /// Key-value pairs at every level.
    pub attributes: u64,
    /// Bytes decoding (and, for metrics, translating) the request is estimated to allocate,
    /// the wire bytes not included.
    pub decoded_bytes: u64,
    /// Exemplars (metrics).
    pub exemplars: u64,
    /// Elements of repeated scalars: histogram bucket counts and bounds, exponential
    /// histogram buckets (metrics).
    pub buckets: u64,
    /// The most attributes one data point that translation keeps carries (metrics):
    /// translating a point costs time quadratic in them, so a request with a point over
    /// `limits.point.max_labels` is refused before it is translated.
    pub widest_point: u64,
}

/// The first bound a request exceeds (the count reached when the scan stopped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Over {
    /// `max_data_points`.
    DataPoints(u64),
    /// `max_attributes`.
    Attributes(u64),
    /// `max_resources`.
    Resources(u64),
}

/// Scans an `ExportMetricsServiceRequest`. Malformed protobuf ends the scan with what was
/// counted so far (decoding reports the error).
pub fn metrics(bytes: &[u8], bounds: &Bounds) -> Result<Cost, Over> {
    let mut tally = Tally::new(bounds);
    metrics::request(bytes, &mut tally)?;
    Ok(tally.finish())
}

/// Scans an `ExportLogsServiceRequest`, as [`metrics`] does. The estimate covers decoding only.
pub fn logs(bytes: &[u8], bounds: &Bounds) -> Result<Cost, Over> {
    let mut tally = Tally::new(bounds);
    logs::request(bytes, &mut tally)?;
    Ok(tally.finish())
}

/// Scans an `ExportTraceServiceRequest`, as [`metrics`] does; spans count as data points.
/// The estimate covers decoding only.
pub fn traces(bytes: &[u8], bounds: &Bounds) -> Result<Cost, Over> {
    let mut tally = Tally::new(bounds);
    traces::request(bytes, &mut tally)?;
    Ok(tally.finish())
}

/// The counts of a scan in progress, checked against the bounds as they grow.
struct Tally<'b> {
    bounds: &'b Bounds,
    cost: Cost,
    /// The longest label list a point will have, for the sort's scratch.
    most_labels: u64,
}

impl<'b> Tally<'b> {
    fn new(bounds: &'b Bounds) -> Self {
        Tally {
            bounds,
            cost: Cost::default(),
            most_labels: 0,
        }
    }

    fn finish(mut self) -> Cost {
        self.heap(self.most_labels.saturating_mul(48));
        self.cost
    }

    fn resource(&mut self) -> Result<(), Over> {
        self.cost.resources += 1;
        match self.cost.resources > self.bounds.max_resources {
            true => Err(Over::Resources(self.cost.resources)),
            false => Ok(()),
        }
    }

    fn data_point(&mut self) -> Result<(), Over> {
        self.cost.data_points += 1;
        match self.cost.data_points > self.bounds.max_data_points {
            true => Err(Over::DataPoints(self.cost.data_points)),
            false => Ok(()),
        }
    }

    /// Counts `n` key-value pairs; when that crosses the bound, the count reported is the
    /// first one over it, as if they had been counted one by one.
    fn attributes(&mut self, n: u64) -> Result<(), Over> {
        self.cost.attributes = self.cost.attributes.saturating_add(n);
        match self.cost.attributes > self.bounds.max_attributes {
            true => Err(Over::Attributes(
                self.bounds.max_attributes.saturating_add(1),
            )),
            false => Ok(()),
        }
    }

    /// Adds estimated heap bytes.
    fn heap(&mut self, bytes: u64) {
        self.cost.decoded_bytes = self.cost.decoded_bytes.saturating_add(bytes);
    }
}

/// Capacity bytes of a `Vec<T>` that prost grew by pushing `n` elements (see the module doc).
fn pushed<T>(n: u64) -> u64 {
    match n {
        0 => 0,
        n => n
            .saturating_mul(2)
            .max(4)
            .saturating_mul(std::mem::size_of::<T>() as u64),
    }
}

/// Heap bytes of a decoded string or bytes field of `len` bytes.
fn string(len: usize) -> u64 {
    match len {
        0 => 0,
        n => n as u64 + 8,
    }
}
