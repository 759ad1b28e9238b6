//! Family names interned to small ids, so a series holds a `u32` instead of its family name.

use dozor_metrics::exposition::Kind;
use std::collections::HashMap;

/// What the exposition needs to know about a family besides its series.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FamilyMeta {
    /// Prometheus family name.
    pub(crate) name: String,
    /// Type; the first type seen for a name wins.
    pub(crate) kind: Kind,
    /// Help text; the first description seen wins.
    pub(crate) help: String,
}

/// A family name resolved against the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// Known, same type: its id.
    Id(u32),
    /// Not known yet.
    Missing,
    /// Known with another type, or reserved for the collector's own metrics.
    Conflict,
}

/// Interned families. Ids of removed families are reused.
#[derive(Debug, Default)]
pub(crate) struct Families {
    by_name: HashMap<String, Option<u32>>,
    meta: Vec<Option<FamilyMeta>>,
    free: Vec<u32>,
}

impl Families {
    /// A table in which `reserved` names always conflict.
    pub(crate) fn new(reserved: impl IntoIterator<Item = String>) -> Self {
        Families {
            by_name: reserved.into_iter().map(|n| (n, None)).collect(),
            ..Default::default()
        }
    }

    /// Looks a family up.
    pub(crate) fn resolve(&self, name: &str, kind: Kind) -> Resolved {
        match self.by_name.get(name) {
            None => Resolved::Missing,
            Some(None) => Resolved::Conflict,
            Some(Some(id)) => match &self.meta[*id as usize] {
                Some(m) if m.kind == kind => Resolved::Id(*id),
                _ => Resolved::Conflict,
            },
        }
    }

    /// Adds a family unless it is already there (another thread may have added it first).
    pub(crate) fn insert(&mut self, name: &str, kind: Kind, help: &str) {
        if self.by_name.contains_key(name) {
            return;
        }
        let meta = Some(FamilyMeta {
            name: name.to_string(),
            kind,
            help: help.to_string(),
        });
        let id = match self.free.pop() {
            Some(id) => {
                self.meta[id as usize] = meta;
                id
            }
            None => {
                self.meta.push(meta);
                (self.meta.len() - 1) as u32
            }
        };
        self.by_name.insert(name.to_string(), Some(id));
    }

    /// The family with this id, if it is live.
    pub(crate) fn get(&self, id: u32) -> Option<&FamilyMeta> {
        self.meta.get(id as usize).and_then(Option::as_ref)
    }

    /// Number of id slots, live or free.
    pub(crate) fn slots(&self) -> usize {
        self.meta.len()
    }

    /// Removes every family whose entry in `live` is zero; the caller guarantees no series
    /// refers to them any more.
    pub(crate) fn retain_live(&mut self, live: &[u32]) {
        for (id, slot) in self.meta.iter_mut().enumerate() {
            if slot.is_some() && live.get(id).copied().unwrap_or(0) == 0 {
                if let Some(m) = slot.take() {
                    self.by_name.remove(&m.name);
                }
                self.free.push(id as u32);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_insert_conflict_reuse() {
        let mut f = Families::new(["dozor_collector_series".to_string()]);
        assert_eq!(
            f.resolve("dozor_collector_series", Kind::Gauge),
            Resolved::Conflict
        );
        assert_eq!(f.resolve("a", Kind::Gauge), Resolved::Missing);
        f.insert("a", Kind::Gauge, "A.");
        f.insert("b", Kind::Counter, "B.");
        assert_eq!(f.resolve("a", Kind::Gauge), Resolved::Id(0));
        assert_eq!(f.resolve("a", Kind::Counter), Resolved::Conflict);
        f.retain_live(&[0, 1]);
        assert_eq!(f.resolve("a", Kind::Gauge), Resolved::Missing);
        f.insert("c", Kind::Gauge, "C.");
        assert_eq!(f.resolve("c", Kind::Gauge), Resolved::Id(0));
        assert_eq!(f.get(1).map(|m| m.name.as_str()), Some("b"));
        assert_eq!(f.slots(), 2);
    }
}
