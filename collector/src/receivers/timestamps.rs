//! The `time_unix_nano` of every point `translate::translate` makes, in the same order, so the
//! store can refuse to move a series backwards.
//!
//! `translate::Point` (in dozor-metrics) carries no timestamp, so this walks the request the
//! way translation does: `target_info` first (no timestamp: 0), then every number and
//! histogram point that translation keeps. [`of`] checks the count against translation's
//! output, and when they ever disagree it answers "unknown" (all 0) rather than misattribute.

use dozor_metrics::otlp::metrics::v1::{DataPointFlags, ResourceMetrics, metric};

fn no_value(flags: u32) -> bool {
    flags & DataPointFlags::NoRecordedValueMask as u32 != 0
}

/// Appends the timestamps of `rm`'s translated points to `out`.
fn push(rm: &ResourceMetrics, out: &mut Vec<u64>) {
    out.push(0);
    for m in rm.scope_metrics.iter().flat_map(|sm| &sm.metrics) {
        let Some(data) = &m.data else { continue };
        if m.name.is_empty() {
            continue;
        }
        match data {
            metric::Data::Gauge(g) => out.extend(
                g.data_points
                    .iter()
                    .filter(|p| p.value.is_some() && !no_value(p.flags))
                    .map(|p| p.time_unix_nano),
            ),
            metric::Data::Sum(s) => out.extend(
                s.data_points
                    .iter()
                    .filter(|p| p.value.is_some() && !no_value(p.flags))
                    .map(|p| p.time_unix_nano),
            ),
            metric::Data::Histogram(h) => out.extend(
                h.data_points
                    .iter()
                    .filter(|p| {
                        !no_value(p.flags)
                            && p.bucket_counts.len() == p.explicit_bounds.len() + 1
                            && p.bucket_counts.iter().sum::<u64>() == p.count
                    })
                    .map(|p| p.time_unix_nano),
            ),
            _ => {}
        }
    }
}

/// Appends `rm`'s timestamps to `out`, which must then hold `translated` entries; if it does
/// not, the entries just added become 0 (unknown).
pub fn of(rm: &ResourceMetrics, out: &mut Vec<u64>, translated: usize) {
    let start = out.len();
    push(rm, out);
    if out.len() != translated {
        debug_assert_eq!(
            out.len(),
            translated,
            "timestamps disagree with translation"
        );
        out.truncate(start);
        out.resize(translated, 0);
    }
}
