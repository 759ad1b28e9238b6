//! The series store: the latest state of every series, keyed by family and sorted labels.
//!
//! Cumulative points replace the state, delta points are added to it (`translate::add`). A
//! series that no point updated within `series_ttl` is removed by [`Store::expire`]; beyond
//! `max_series` new series are refused (existing ones keep updating). Series live in shards,
//! each behind its own mutex, so receivers on different cores rarely wait for each other; a
//! batch locks each shard it touches once. Family names are interned ([`families`]) and label
//! sets packed ([`labels`]) to keep a series small.

pub mod budget;
mod families;
pub mod fleet;
mod labels;
mod snapshot;
mod value;

use dozor_metrics::exposition::{Family, Kind, Value};
use dozor_metrics::translate::Point;
use families::{Families, Resolved};
use hashbrown::{DefaultHashBuilder, HashTable};
use labels::LabelSet;
pub use snapshot::Snapshot;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};
use value::Stored;

/// Default number of shards: well above the core counts the collector runs on.
pub const SHARDS: usize = 16;

/// How a batch fared in the store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Points that updated or created a series.
    pub stored: u64,
    /// Points refused because they would have created a series beyond `max_series`.
    pub series_limit: u64,
    /// Points whose family exists with another type or is the collector's own.
    pub name_conflict: u64,
    /// Cumulative or gauge points older than the point held for their series: not applied,
    /// so a replayed backlog never moves a series backwards.
    pub out_of_order: u64,
}

/// The series store. Shared by all receivers and the exporter.
#[derive(Debug)]
pub struct Store {
    families: RwLock<Families>,
    shards: Box<[Mutex<HashTable<Entry>>]>,
    hasher: DefaultHashBuilder,
    series: AtomicUsize,
    max_series: usize,
    ttl_ms: u64,
    epoch: Instant,
}

#[derive(Debug)]
struct Entry {
    hash: u64,
    family: u32,
    labels: LabelSet,
    value: Stored,
    updated_ms: u64,
    /// `time_unix_nano` of the newest point applied (0: none carried a timestamp).
    time_ns: u64,
    /// When a counter or histogram started counting, Unix nanoseconds (0: unknown): the
    /// sender's `start_time_unix_nano` of a cumulative series (a reset moves it), or the
    /// start of the first delta the collector added up.
    created_ns: u64,
}

impl Store {
    /// An empty store. `reserved` family names (the collector's own) are refused at ingest.
    pub fn new(max_series: usize, series_ttl: Duration, reserved: Vec<String>) -> Self {
        Self::with_shards(SHARDS, max_series, series_ttl, reserved)
    }

    /// An empty store with `shards` locks (at least one), for benchmarks comparing counts.
    pub fn with_shards(
        shards: usize,
        max_series: usize,
        series_ttl: Duration,
        reserved: Vec<String>,
    ) -> Self {
        Store {
            families: RwLock::new(Families::new(reserved)),
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(HashTable::new()))
                .collect(),
            hasher: DefaultHashBuilder::default(),
            series: AtomicUsize::new(0),
            max_series,
            ttl_ms: series_ttl.as_millis() as u64,
            epoch: Instant::now(),
        }
    }

    /// Series currently held.
    pub fn len(&self) -> usize {
        self.series.load(Ordering::Relaxed)
    }

    /// True when the store holds no series.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Stores a batch of translated points.
    pub fn ingest(&self, points: Vec<Point>) -> Ingested {
        self.ingest_timed(points, &[])
    }

    /// Stores a batch of translated points; `times[i]` is point i's `time_unix_nano` (0 or
    /// missing: unknown, always applied). A cumulative or gauge point older than the one held
    /// for its series is not applied and counted as out of order. Deltas are always added.
    pub fn ingest_timed(&self, points: Vec<Point>, times: &[u64]) -> Ingested {
        self.ingest_full(points, times, self.now_ms())
    }

    #[cfg(test)]
    fn ingest_at(&self, points: Vec<Point>, now_ms: u64) -> Ingested {
        self.ingest_full(points, &[], now_ms)
    }

    fn ingest_full(&self, mut points: Vec<Point>, times: &[u64], now_ms: u64) -> Ingested {
        let mut result = Ingested::default();
        // Held for the whole batch: `expire` may only recycle family ids between batches.
        let families = self.resolve_families(&points);
        let mut keys: Vec<(u32, u64)> = Vec::with_capacity(points.len());
        let mut last: Option<(usize, Resolved)> = None;
        let shards = self.shards.len();
        let mut per_shard = vec![0u32; shards + 1];
        for (i, p) in points.iter().enumerate() {
            let resolved = match last {
                Some((j, r)) if points[j].family == p.family && points[j].kind == p.kind => r,
                _ => families.resolve(&p.family, p.kind),
            };
            last = Some((i, resolved));
            let Resolved::Id(id) = resolved else {
                result.name_conflict += counted(p);
                keys.push((u32::MAX, 0));
                continue;
            };
            let hash = self.hasher.hash_one((id, &p.labels));
            keys.push((id, hash));
            per_shard[shard_of(hash, shards) + 1] += 1;
        }
        // Counting sort of point indices by shard, so each shard is locked once per batch.
        for s in 1..=shards {
            per_shard[s] += per_shard[s - 1];
        }
        let mut order = vec![0u32; per_shard[shards] as usize];
        let mut fill = per_shard.clone();
        let (mut slots, mut pending) = (Vec::new(), Vec::new());
        for (i, (id, hash)) in keys.iter().enumerate() {
            if *id != u32::MAX {
                let s = shard_of(*hash, shards);
                order[fill[s] as usize] = i as u32;
                fill[s] += 1;
            }
        }
        for s in 0..shards {
            let range = per_shard[s] as usize..per_shard[s + 1] as usize;
            if range.is_empty() {
                continue;
            }
            let mut table = self.shards[s].lock().unwrap_or_else(|e| e.into_inner());
            let group = &order[range];
            // Locate by full hash first, in a loop short enough for the CPU to overlap the
            // cache misses of many lookups; then confirm labels and update. New series (and
            // the astronomically rare 64-bit collision) go through the full path afterwards,
            // because inserting moves buckets.
            slots.clear();
            slots.extend(group.iter().map(|&i| {
                let (id, hash) = keys[i as usize];
                table.find_bucket_index(hash, |e| e.hash == hash && e.family == id)
            }));
            pending.clear();
            for (&i, slot) in group.iter().zip(&slots) {
                let p = &mut points[i as usize];
                let found = slot
                    .and_then(|b| table.get_bucket_mut(b))
                    .filter(|e| e.labels.eq_pairs(&p.labels));
                let time = times.get(i as usize).copied().unwrap_or(0);
                match found {
                    Some(e) => apply(e, p, time, now_ms, &mut result),
                    None => pending.push(i),
                }
            }
            for &i in &pending {
                let (id, hash) = keys[i as usize];
                let p = &mut points[i as usize];
                let found =
                    table.find_mut(hash, |e| e.family == id && e.labels.eq_pairs(&p.labels));
                let time = times.get(i as usize).copied().unwrap_or(0);
                if let Some(e) = found {
                    apply(e, p, time, now_ms, &mut result);
                } else if self.series.fetch_add(1, Ordering::Relaxed) < self.max_series {
                    let value = std::mem::replace(&mut p.value, Value::Number(0.0));
                    let entry = Entry {
                        hash,
                        family: id,
                        labels: LabelSet::new(&p.labels),
                        value: Stored::new(value),
                        updated_ms: now_ms,
                        time_ns: time,
                        created_ns: p.start_ns,
                    };
                    table.insert_unique(hash, entry, |e| e.hash);
                    result.stored += counted(p);
                } else {
                    self.series.fetch_sub(1, Ordering::Relaxed);
                    result.series_limit += counted(p);
                }
            }
        }
        result
    }

    /// Adds the families this batch introduces, then returns the table read-locked.
    fn resolve_families(&self, points: &[Point]) -> std::sync::RwLockReadGuard<'_, Families> {
        loop {
            let read = self.families.read().unwrap_or_else(|e| e.into_inner());
            let mut missing: Vec<&Point> = Vec::new();
            let mut last: Option<&Point> = None;
            for p in points {
                if last.is_some_and(|l| l.family == p.family) {
                    continue;
                }
                last = Some(p);
                if read.resolve(&p.family, p.kind) == Resolved::Missing {
                    missing.push(p);
                }
            }
            if missing.is_empty() {
                return read;
            }
            drop(read);
            let mut write = self.families.write().unwrap_or_else(|e| e.into_inner());
            for p in missing {
                write.insert(&p.family, p.kind, &p.help);
            }
        }
    }

    /// Removes series not updated within `series_ttl`, and families left without series.
    /// Returns the number of series removed.
    pub fn expire(&self) -> u64 {
        self.expire_at(self.now_ms())
    }

    fn expire_at(&self, now_ms: u64) -> u64 {
        let mut families = self.families.write().unwrap_or_else(|e| e.into_inner());
        let mut live = vec![0u32; families.slots()];
        let mut removed = 0u64;
        for shard in self.shards.iter() {
            let mut table = shard.lock().unwrap_or_else(|e| e.into_inner());
            table.retain(|e| {
                let keep = now_ms.saturating_sub(e.updated_ms) < self.ttl_ms;
                if keep {
                    live[e.family as usize] += 1;
                } else {
                    removed += 1;
                }
                keep
            });
        }
        families.retain_live(&live);
        self.series.fetch_sub(removed as usize, Ordering::Relaxed);
        removed
    }

    /// A consistent copy of every series, compact (one allocation per series), for the
    /// exporter to render one family at a time.
    pub fn snapshot(&self) -> Snapshot {
        let families = self.families.read().unwrap_or_else(|e| e.into_inner());
        let mut series: Vec<Vec<snapshot::Copied>> =
            (0..families.slots()).map(|_| Vec::new()).collect();
        for shard in self.shards.iter() {
            let table = shard.lock().unwrap_or_else(|e| e.into_inner());
            for e in table.iter() {
                let copied = (e.labels.clone(), e.value.clone(), e.created_ns);
                series[e.family as usize].push(copied);
            }
        }
        let mut out: Vec<(families::FamilyMeta, Vec<snapshot::Copied>)> = series
            .into_iter()
            .enumerate()
            .filter(|(_, s)| !s.is_empty())
            .filter_map(|(id, s)| Some((families.get(id as u32)?.clone(), s)))
            .collect();
        out.sort_unstable_by(|a, b| a.0.name.cmp(&b.0.name));
        Snapshot::new(out)
    }

    /// The series of family `name` as (labels, number) pairs, for the admin endpoint to read
    /// what agents report about themselves (their backlog). Copies only that family.
    pub fn family_values(&self, name: &str) -> Vec<(Vec<(String, String)>, f64)> {
        let families = self.families.read().unwrap_or_else(|e| e.into_inner());
        let Some(id) = (0..families.slots() as u32)
            .find(|id| families.get(*id).is_some_and(|m| m.name == name))
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let table = shard.lock().unwrap_or_else(|e| e.into_inner());
            for e in table.iter().filter(|e| e.family == id) {
                if let Stored::Number(v) = e.value {
                    out.push((e.labels.to_pairs(), v));
                }
            }
        }
        out
    }

    /// Every family with its series, families sorted by name and series by labels.
    pub fn families(&self) -> Vec<Family> {
        self.snapshot().into_iter().collect()
    }
}

/// Applies a point to its series unless it is older than what the series holds.
fn apply(e: &mut Entry, p: &mut Point, time: u64, now_ms: u64, result: &mut Ingested) {
    if !p.delta && time != 0 && time < e.time_ns {
        result.out_of_order += counted(p);
        return;
    }
    let value = std::mem::replace(&mut p.value, Value::Number(0.0));
    e.value.update(value, p.delta);
    e.updated_ms = now_ms;
    e.time_ns = e.time_ns.max(time);
    if !p.delta && p.start_ns != 0 {
        e.created_ns = p.start_ns;
    }
    result.stored += counted(p);
}

fn shard_of(hash: u64, shards: usize) -> usize {
    // The table itself uses the low bits (bucket) and the top 7 (tag); shard on others.
    (hash >> 40) as usize % shards
}

/// `target_info` is made by translation, not sent: it is not a data point of the request.
fn counted(p: &Point) -> u64 {
    u64::from(!(p.family == "target_info" && p.kind == Kind::Gauge))
}

#[cfg(test)]
mod tests;
