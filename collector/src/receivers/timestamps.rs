//! The `time_unix_nano` of every point `translate::translate` makes, in the same order, so the
//! store can refuse to move a series backwards and the pipeline can refuse points stamped in
//! the future; and the exemplar counts of those points, for `limits.point.max_exemplars`.
//!
//! `translate::Point` (in dozor-metrics) carries neither, so this walks the request the way
//! translation does: `target_info` first (no timestamp: 0), then every number and histogram
//! point that translation keeps. [`of`] checks the count against translation's output, and
//! when they ever disagree it answers "unknown" (times 0, no exemplars) rather than
//! misattribute.

use dozor_metrics::otlp::metrics::v1::{DataPointFlags, ResourceMetrics, metric};

fn no_value(flags: u32) -> bool {
    flags & DataPointFlags::NoRecordedValueMask as u32 != 0
}

/// Appends the timestamps of `rm`'s translated points to `out`, and `(index in out, count)`
/// for each of them that carries exemplars to `exemplars`.
fn push(rm: &ResourceMetrics, out: &mut Vec<u64>, exemplars: &mut Vec<(u32, u32)>) {
    let mut kept = |out: &mut Vec<u64>, time: u64, n: usize| {
        if n > 0 {
            exemplars.push((out.len() as u32, u32::try_from(n).unwrap_or(u32::MAX)));
        }
        out.push(time);
    };
    out.push(0);
    for m in rm.scope_metrics.iter().flat_map(|sm| &sm.metrics) {
        let Some(data) = &m.data else { continue };
        if m.name.is_empty() {
            continue;
        }
        match data {
            metric::Data::Gauge(g) => g
                .data_points
                .iter()
                .filter(|p| p.value.is_some() && !no_value(p.flags))
                .for_each(|p| kept(out, p.time_unix_nano, p.exemplars.len())),
            metric::Data::Sum(s) => s
                .data_points
                .iter()
                .filter(|p| p.value.is_some() && !no_value(p.flags))
                .for_each(|p| kept(out, p.time_unix_nano, p.exemplars.len())),
            metric::Data::Histogram(h) => h
                .data_points
                .iter()
                .filter(|p| {
                    !no_value(p.flags)
                        && p.bucket_counts.len() == p.explicit_bounds.len() + 1
                        && p.bucket_counts.iter().sum::<u64>() == p.count
                })
                .for_each(|p| kept(out, p.time_unix_nano, p.exemplars.len())),
            _ => {}
        }
    }
}

/// Appends `rm`'s timestamps to `out`, which must then hold `translated` entries, and the
/// exemplar counts of those points to `exemplars` (see [`push`]); if `out` does not, the
/// entries just added become 0 (unknown) and no exemplars are reported for them.
pub fn of(
    rm: &ResourceMetrics,
    out: &mut Vec<u64>,
    exemplars: &mut Vec<(u32, u32)>,
    translated: usize,
) {
    let (start, counted) = (out.len(), exemplars.len());
    push(rm, out, exemplars);
    if out.len() != translated {
        debug_assert_eq!(
            out.len(),
            translated,
            "timestamps disagree with translation"
        );
        out.truncate(start);
        out.resize(translated, 0);
        exemplars.truncate(counted);
    }
}
