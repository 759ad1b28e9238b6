//! A copy of the store taken for one scrape: compact while held, expanded one family at a time.

use super::families::FamilyMeta;
use super::labels::LabelSet;
use super::value::Stored;
use dozor_metrics::exposition::{Family, Series};

/// Series copied out of the store; iterating yields one exposition [`Family`] at a time,
/// sorted by name, series sorted by labels.
#[derive(Debug)]
pub struct Snapshot {
    families: Vec<(FamilyMeta, Vec<(LabelSet, Stored)>)>,
}

impl Snapshot {
    pub(super) fn new(families: Vec<(FamilyMeta, Vec<(LabelSet, Stored)>)>) -> Self {
        Snapshot { families }
    }
}

impl IntoIterator for Snapshot {
    type Item = Family;
    type IntoIter = Box<dyn Iterator<Item = Family> + Send>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.families.into_iter().map(|(meta, mut series)| {
            series.sort_unstable_by(|a, b| a.0.cmp_pairs(&b.0));
            Family {
                name: meta.name,
                kind: meta.kind,
                help: meta.help,
                series: series
                    .into_iter()
                    .map(|(labels, value)| Series {
                        labels: labels.to_pairs(),
                        value: value.to_value(),
                    })
                    .collect(),
            }
        }))
    }
}
