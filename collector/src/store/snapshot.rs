//! A copy of the store taken for one scrape: compact while held, expanded one family at a time.

use super::families::FamilyMeta;
use super::labels::LabelSet;
use super::value::Stored;
use dozor_metrics::exposition::{Family, Series};

/// One series copied out: labels, value, and when it started counting (Unix ns, 0: unknown).
pub(super) type Copied = (LabelSet, Stored, u64);

/// Series copied out of the store; iterating yields one exposition [`Family`] at a time,
/// sorted by name, series sorted by labels.
#[derive(Debug)]
pub struct Snapshot {
    families: Vec<(FamilyMeta, Vec<Copied>)>,
    created: bool,
}

impl Snapshot {
    pub(super) fn new(families: Vec<(FamilyMeta, Vec<Copied>)>) -> Self {
        Snapshot {
            families,
            created: false,
        }
    }

    /// With each counter's and histogram's start time (`Series::created`), for the
    /// OpenMetrics `_created` samples.
    pub fn with_created(mut self, created: bool) -> Self {
        self.created = created;
        self
    }
}

impl IntoIterator for Snapshot {
    type Item = Family;
    type IntoIter = Box<dyn Iterator<Item = Family> + Send>;

    fn into_iter(self) -> Self::IntoIter {
        let with_created = self.created;
        Box::new(self.families.into_iter().map(move |(meta, mut series)| {
            series.sort_unstable_by(|a, b| a.0.cmp_pairs(&b.0));
            Family {
                name: meta.name,
                kind: meta.kind,
                help: meta.help,
                series: series
                    .into_iter()
                    .map(|(labels, value, created_ns)| Series {
                        labels: labels.to_pairs(),
                        value: value.to_value(),
                        created: (with_created && created_ns != 0).then(|| seconds(created_ns)),
                    })
                    .collect(),
            }
        }))
    }
}

/// Unix nanoseconds as seconds, whole seconds and fraction apart so the fraction keeps its
/// digits (`1700000000.25`, not `1700000000.2499998`).
fn seconds(ns: u64) -> f64 {
    (ns / 1_000_000_000) as f64 + (ns % 1_000_000_000) as f64 / 1e9
}
