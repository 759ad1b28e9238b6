//! `ExportMetricsServiceRequest` (collector/metrics/v1, metrics/v1), walked field by field.
//!
//! Fields that translation depends on may come in any order on the wire (a resource after its
//! metrics, a metric's name after its points), so what a point will cost translated is
//! gathered per metric and per resource, and charged when that message ends.

use super::values::Attributes;
use super::wire::{Field, Fields, count_i64, count_varints};
use super::{Over, Tally, pushed, string};
use dozor_metrics::otlp::common::v1::EntityRef;
use dozor_metrics::otlp::metrics::v1::summary_data_point::ValueAtQuantile;
use dozor_metrics::otlp::metrics::v1::{
    Exemplar, ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, SummaryDataPoint,
};
use dozor_metrics::translate::Point;
use std::mem::size_of;

/// `DataPointFlags::NoRecordedValueMask`: translation drops such points.
const NO_RECORDED_VALUE: u64 = 1;

/// The request: `resource_metrics` (1).
pub(super) fn request(bytes: &[u8], t: &mut Tally) -> Result<(), Over> {
    let mut n = 0;
    for (number, field) in Fields::new(bytes) {
        if let (1, Field::Bytes(rm)) = (number, field) {
            n += 1;
            resource_metrics(rm, t)?;
        }
    }
    t.heap(pushed::<ResourceMetrics>(n));
    Ok(())
}

/// What one resource's points will cost translated, beyond what each point costs alone.
#[derive(Default)]
struct Translated {
    /// Points translation will keep.
    points: u64,
    /// The most attributes one of them has.
    most_attributes: u64,
}

/// `ResourceMetrics`: resource (1), scope_metrics (2), schema_url (3).
fn resource_metrics(bytes: &[u8], t: &mut Tally) -> Result<(), Over> {
    t.resource()?;
    let (mut scopes, mut attrs, mut translated) = (0, Attributes::default(), Translated::default());
    for (number, field) in Fields::new(bytes) {
        match (number, field) {
            (1, Field::Bytes(r)) => attrs.merge(resource(r, t)?),
            (2, Field::Bytes(sm)) => {
                scopes += 1;
                scope_metrics(sm, t, &mut translated)?;
            }
            (3, Field::Bytes(s)) => t.heap(string(s.len())),
            _ => {}
        }
    }
    t.heap(pushed::<ScopeMetrics>(scopes));
    // target_info, its slot and timestamp; the identity map, base and target_info labels.
    let per_attribute = attrs.plain.saturating_add(attrs.n.saturating_mul(8));
    t.heap(size_of::<Point>() as u64 + 8 + 1024);
    t.heap(per_attribute.saturating_add(attrs.plain).saturating_mul(3));
    t.heap(attrs.n.saturating_mul(432));
    // Every point carries the base labels (job, instance, promoted attributes): at most two
    // more than the resource has attributes, with their values (job may join two).
    let base = 2 + attrs.n;
    let per_point = base
        .saturating_mul(96)
        .saturating_add(per_attribute)
        .saturating_add(attrs.plain.saturating_mul(2))
        .saturating_add(32);
    t.heap(translated.points.saturating_mul(per_point));
    t.most_labels = t
        .most_labels
        .max(translated.most_attributes.saturating_add(base));
    t.cost.widest_point = t.cost.widest_point.max(translated.most_attributes);
    Ok(())
}

/// `Resource`: attributes (1), entity_refs (3). Returns its attributes.
pub(super) fn resource(bytes: &[u8], t: &mut Tally) -> Result<Attributes, Over> {
    let (mut attrs, mut refs) = (Attributes::default(), 0);
    for (number, field) in Fields::new(bytes) {
        match (number, field) {
            (1, Field::Bytes(kv)) => attrs.add(kv, t)?,
            (3, Field::Bytes(r)) => {
                refs += 1;
                entity_ref(r, t);
            }
            _ => {}
        }
    }
    t.heap(pushed::<EntityRef>(refs));
    Ok(attrs.finish(t))
}

/// `EntityRef`: schema_url (1), type (2), id_keys (3), description_keys (4): only strings.
fn entity_ref(bytes: &[u8], t: &mut Tally) {
    let (mut ids, mut descriptions) = (0, 0);
    for (number, field) in Fields::new(bytes) {
        if let Field::Bytes(s) = field {
            t.heap(string(s.len()));
            match number {
                3 => ids += 1,
                4 => descriptions += 1,
                _ => {}
            }
        }
    }
    t.heap(pushed::<String>(ids) + pushed::<String>(descriptions));
}

/// `InstrumentationScope`: name (1), version (2), attributes (3).
pub(super) fn scope(bytes: &[u8], t: &mut Tally) -> Result<(), Over> {
    let mut attrs = Attributes::default();
    for (number, field) in Fields::new(bytes) {
        match (number, field) {
            (1 | 2, Field::Bytes(s)) => t.heap(string(s.len())),
            (3, Field::Bytes(kv)) => attrs.add(kv, t)?,
            _ => {}
        }
    }
    attrs.finish(t);
    Ok(())
}

/// `ScopeMetrics`: scope (1), metrics (2), schema_url (3).
fn scope_metrics(bytes: &[u8], t: &mut Tally, translated: &mut Translated) -> Result<(), Over> {
    t.resource()?;
    let mut metrics = 0;
    for (number, field) in Fields::new(bytes) {
        match (number, field) {
            (1, Field::Bytes(s)) => scope(s, t)?,
            (2, Field::Bytes(m)) => {
                metrics += 1;
                metric(m, t, translated)?;
            }
            (3, Field::Bytes(s)) => t.heap(string(s.len())),
            _ => {}
        }
    }
    t.heap(pushed::<Metric>(metrics));
    Ok(())
}

/// What one metric's kept points cost translated, charged once its name is known.
#[derive(Default)]
struct Kept {
    points: u64,
    /// Their labels, values and histogram vectors.
    bytes: u64,
    most_attributes: u64,
}

/// `Metric`: name (1), description (2), unit (3), gauge (5), sum (7), histogram (9),
/// exponential_histogram (10), summary (11), metadata (12).
fn metric(bytes: &[u8], t: &mut Tally, translated: &mut Translated) -> Result<(), Over> {
    let (mut name, mut help, mut unit) = (0u64, 0u64, 0u64);
    let (mut kept, mut metadata) = (Kept::default(), Attributes::default());
    for (number, field) in Fields::new(bytes) {
        let Field::Bytes(b) = field else { continue };
        match number {
            1..=3 => {
                t.heap(string(b.len()));
                let slot = match number {
                    1 => &mut name,
                    2 => &mut help,
                    _ => &mut unit,
                };
                *slot = (*slot).max(b.len() as u64);
            }
            5 | 7 => points::<NumberDataPoint>(b, t, &mut kept, number_point)?,
            9 => points::<HistogramDataPoint>(b, t, &mut kept, histogram_point)?,
            10 => points::<ExponentialHistogramDataPoint>(b, t, &mut kept, exponential_point)?,
            11 => points::<SummaryDataPoint>(b, t, &mut kept, summary_point)?,
            12 => metadata.add(b, t)?,
            _ => {}
        }
    }
    metadata.finish(t);
    // Translation drops the points of a metric without a name.
    if name > 0 && kept.points > 0 {
        let family = name
            .saturating_add(unit.saturating_mul(12))
            .saturating_add(16);
        t.heap(name.saturating_mul(20) + unit.saturating_mul(16) + 64);
        t.heap(kept.points.saturating_mul(family.saturating_add(help)));
        t.heap(kept.bytes);
        translated.points = translated.points.saturating_add(kept.points);
        translated.most_attributes = translated.most_attributes.max(kept.most_attributes);
    }
    Ok(())
}

type Scan = fn(&[u8], &mut Tally, &mut Kept) -> Result<(), Over>;

/// `Gauge`, `Sum`, `Histogram`, `ExponentialHistogram`, `Summary`: data_points (1), of
/// type `P`.
fn points<P>(bytes: &[u8], t: &mut Tally, kept: &mut Kept, scan: Scan) -> Result<(), Over> {
    let mut n = 0;
    for (number, field) in Fields::new(bytes) {
        if let (1, Field::Bytes(p)) = (number, field) {
            t.data_point()?;
            n += 1;
            scan(p, t, kept)?;
        }
    }
    t.heap(pushed::<P>(n));
    // Each point's slot and timestamp in what `store_request` reserves, kept or not.
    t.heap(n.saturating_mul(size_of::<Point>() as u64 + 8));
    Ok(())
}

/// A point translation keeps: its label `Vec` and labels, and `extra` bytes.
fn keep(kept: &mut Kept, attrs: &Attributes, extra: u64) {
    kept.points += 1;
    let labels = 192u64
        .saturating_add(attrs.n.saturating_mul(96))
        .saturating_add(attrs.labels)
        .saturating_add(extra);
    kept.bytes = kept.bytes.saturating_add(labels);
    kept.most_attributes = kept.most_attributes.max(attrs.n);
}

/// `NumberDataPoint`: exemplars (5), value (4, 6), attributes (7), flags (8).
fn number_point(bytes: &[u8], t: &mut Tally, kept: &mut Kept) -> Result<(), Over> {
    let (mut attrs, mut exemplars) = (Attributes::default(), 0);
    let (mut value, mut flags) = (false, 0);
    for (number, field) in Fields::new(bytes) {
        match (number, field) {
            (7, Field::Bytes(kv)) => attrs.add(kv, t)?,
            (5, Field::Bytes(e)) => {
                exemplars += 1;
                exemplar(e, t)?;
            }
            (4 | 6, Field::I64(_)) => value = true,
            (8, Field::Varint(f)) => flags = f,
            _ => {}
        }
    }
    let attrs = attrs.finish(t);
    t.heap(pushed::<Exemplar>(exemplars));
    if value && flags & NO_RECORDED_VALUE == 0 {
        keep(kept, &attrs, 0);
    }
    Ok(())
}

/// `HistogramDataPoint`: bucket_counts (6), explicit_bounds (7), exemplars (8),
/// attributes (9), flags (10).
fn histogram_point(bytes: &[u8], t: &mut Tally, kept: &mut Kept) -> Result<(), Over> {
    let (mut attrs, mut exemplars) = (Attributes::default(), 0);
    let (mut counts, mut bounds, mut flags) = (0, 0, 0);
    for (number, field) in Fields::new(bytes) {
        match (number, field) {
            (9, Field::Bytes(kv)) => attrs.add(kv, t)?,
            (8, Field::Bytes(e)) => {
                exemplars += 1;
                exemplar(e, t)?;
            }
            (6, f) => counts += count_i64(f),
            (7, f) => bounds += count_i64(f),
            (10, Field::Varint(f)) => flags = f,
            _ => {}
        }
    }
    let attrs = attrs.finish(t);
    t.cost.buckets = t.cost.buckets.saturating_add(counts + bounds);
    t.heap(pushed::<Exemplar>(exemplars));
    t.heap(pushed::<u64>(counts) + pushed::<f64>(bounds));
    if flags & NO_RECORDED_VALUE == 0 {
        keep(kept, &attrs, (counts + bounds).saturating_mul(8));
    }
    Ok(())
}

/// `ExponentialHistogramDataPoint`: attributes (1), positive (8), negative (9),
/// exemplars (11). Translation keeps none.
fn exponential_point(bytes: &[u8], t: &mut Tally, _: &mut Kept) -> Result<(), Over> {
    let (mut attrs, mut exemplars) = (Attributes::default(), 0);
    for (number, field) in Fields::new(bytes) {
        match (number, field) {
            (1, Field::Bytes(kv)) => attrs.add(kv, t)?,
            (8 | 9, Field::Bytes(b)) => buckets(b, t),
            (11, Field::Bytes(e)) => {
                exemplars += 1;
                exemplar(e, t)?;
            }
            _ => {}
        }
    }
    attrs.finish(t);
    t.heap(pushed::<Exemplar>(exemplars));
    Ok(())
}

/// `Buckets`: bucket_counts (2), repeated uint64, packed or not.
fn buckets(bytes: &[u8], t: &mut Tally) {
    let mut n = 0;
    for (number, field) in Fields::new(bytes) {
        if number == 2 {
            n += count_varints(field);
        }
    }
    t.cost.buckets = t.cost.buckets.saturating_add(n);
    t.heap(pushed::<u64>(n));
}

/// `SummaryDataPoint`: quantile_values (6), attributes (7). Translation keeps none.
fn summary_point(bytes: &[u8], t: &mut Tally, _: &mut Kept) -> Result<(), Over> {
    let (mut attrs, mut quantiles) = (Attributes::default(), 0);
    for (number, field) in Fields::new(bytes) {
        match (number, field) {
            (7, Field::Bytes(kv)) => attrs.add(kv, t)?,
            (6, Field::Bytes(_)) => quantiles += 1,
            _ => {}
        }
    }
    attrs.finish(t);
    t.heap(pushed::<ValueAtQuantile>(quantiles));
    Ok(())
}

/// `Exemplar`: span_id (4), trace_id (5), filtered_attributes (7).
fn exemplar(bytes: &[u8], t: &mut Tally) -> Result<(), Over> {
    t.cost.exemplars += 1;
    let mut attrs = Attributes::default();
    for (number, field) in Fields::new(bytes) {
        match (number, field) {
            (7, Field::Bytes(kv)) => attrs.add(kv, t)?,
            (4 | 5, Field::Bytes(id)) => t.heap(string(id.len())),
            _ => {}
        }
    }
    attrs.finish(t);
    Ok(())
}
