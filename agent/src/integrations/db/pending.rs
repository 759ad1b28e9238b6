//! The heartbeats an agent wrote on a primary that the replica has not applied yet, shared by
//! the `postgresql` and `mysql` heartbeats. The replication delay is the age of the oldest of
//! them on the agent's clock (0 when there is none): it grows at wall-clock rate from the
//! moment replay stops, whether the primary is busy or idle, and depends on no clock but the
//! agent's.
//!
//! The list is kept in a small file in the agent's state directory, rewritten (through a
//! temporary file and a rename) whenever it changes, so the delay of a stalled replica goes on
//! across agent restarts instead of starting again from 0, and `collect --once` reads the
//! running agent's file (without writing it). An agent without the file (its first start, or
//! a new state directory) seeds the list from what the primary and the replica hold: the
//! delay is then an upper bound, by at most one of the previous writer's intervals.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

/// Heartbeats remembered at most: 4096 runs are 17 hours at 15 s. Beyond it the second oldest
/// is forgotten, so the oldest, which decides the delay, stays.
pub const MAX_PENDING: usize = 4096;

/// One heartbeat written and not yet seen applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The value written, microseconds since the epoch on the primary's clock: what the
    /// replica shows once it has applied the write.
    pub ts: i64,
    /// When the agent wrote it, microseconds since the epoch on the agent's clock.
    pub at: i64,
}

/// The file's content.
#[derive(Serialize, Deserialize)]
struct File {
    version: u32,
    /// Whose heartbeats these are (`mysql` also keeps the primary's server id here).
    writer: String,
    pending: VecDeque<Entry>,
}

const VERSION: u32 = 1;

/// Heartbeats written and not yet applied, oldest first.
#[derive(Debug, Default)]
pub struct Pending {
    entries: VecDeque<Entry>,
    /// Where they are kept, and whether this process may write there.
    file: Option<(PathBuf, bool)>,
    /// Whose heartbeats they are, as loaded or set.
    pub writer: String,
    changed: bool,
}

impl Pending {
    /// The list kept in `file` (read now; a missing or unreadable one is an empty list, the
    /// latter logged), written back by [`Pending::save`] only when `save`.
    pub fn load(file: PathBuf, save: bool) -> Pending {
        let mut out = Pending::default();
        match std::fs::read(&file) {
            Ok(bytes) => match serde_json::from_slice::<File>(&bytes) {
                Ok(f) if f.version == VERSION => {
                    out.entries = f.pending;
                    out.writer = f.writer;
                }
                Ok(_) | Err(_) => tracing::warn!(
                    file = %file.display(),
                    "Heartbeat state unreadable; starting anew (the replica delay is an upper bound until the next write is applied)."
                ),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %e, "Heartbeat state unreadable; starting anew.")
            }
        }
        out.file = Some((file, save));
        out
    }

    /// True when no heartbeat is waiting.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Notes a heartbeat written with value `ts` at agent time `at`.
    pub fn written(&mut self, ts: i64, at: i64) {
        if self.entries.len() >= MAX_PENDING {
            self.entries.remove(1);
        }
        self.entries.push_back(Entry { ts, at });
        self.changed = true;
    }

    /// Forgets what the replica has applied, given the value it holds: the entry with exactly
    /// that value and all older ones (writes apply in order), or, for a value this agent did
    /// not write, every entry up to it.
    pub fn applied(&mut self, seen: i64) {
        let before = self.entries.len();
        match self.entries.iter().position(|e| e.ts == seen) {
            Some(i) => drop(self.entries.drain(..=i)),
            None => self.entries.retain(|e| e.ts > seen),
        }
        self.changed |= self.entries.len() != before;
    }

    /// With nothing remembered, what the servers hold says whether writes are waiting: the
    /// primary's row at `primary_last` (its clock at `primary_now`), the replica's at `seen`.
    /// Waiting writes are assumed to date from just after `seen`, so the delay is an upper
    /// bound by at most one of the previous writer's intervals; when the replica has no row at
    /// all, from `primary_last`, a lower bound.
    pub fn seed(
        &mut self,
        seen: Option<i64>,
        primary_last: Option<i64>,
        primary_now: i64,
        now: i64,
    ) {
        let Some(last) = primary_last else { return };
        let since = match seen {
            Some(seen) if last > seen => seen,
            Some(_) => return,
            None => last,
        };
        if self.entries.is_empty() {
            self.written(last, now - (primary_now - since).max(0));
        }
    }

    /// Seconds since the oldest heartbeat not applied was written, at agent time `now`.
    pub fn delay(&self, now: i64) -> f64 {
        self.entries
            .front()
            .map_or(0.0, |e| (now - e.at).max(0) as f64 / 1e6)
    }

    /// Writes the list back when it changed and this process may.
    pub fn save(&mut self) -> std::io::Result<()> {
        let Some((path, true)) = &self.file else {
            return Ok(());
        };
        if !self.changed {
            return Ok(());
        }
        let file = File {
            version: VERSION,
            writer: self.writer.clone(),
            pending: self.entries.clone(),
        };
        write_atomically(
            path,
            &serde_json::to_vec(&file).map_err(std::io::Error::other)?,
        )?;
        self.changed = false;
        Ok(())
    }
}

/// The state file of a heartbeat: `<state_dir>/heartbeat/<integration>-<instance>.json`, the
/// instance name reduced to characters safe in a file name.
pub fn path(state_dir: &Path, integration: &str, instance: &str) -> PathBuf {
    let safe: String = instance
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => c,
            _ => '_',
        })
        .collect();
    state_dir
        .join("heartbeat")
        .join(format!("{integration}-{safe}.json"))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Now on the agent's clock, microseconds since the epoch.
pub fn now_micros() -> i64 {
    i64::try_from(dozor_metrics::time::now_nanos() / 1000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    #[test]
    fn delay_is_the_age_of_the_oldest_heartbeat_not_applied() {
        let mut p = Pending::default();
        // In step: each heartbeat applied before the next read.
        p.written(100 * S, 1000 * S);
        p.applied(100 * S);
        assert_eq!(p.delay(1000 * S + 4000), 0.0);
        // Replay paused after 100: heartbeats pile up, the delay follows the agent's clock.
        p.written(115 * S, 1015 * S);
        p.applied(100 * S);
        assert_eq!(p.delay(1015 * S + 10_000), 0.01);
        p.written(130 * S, 1030 * S);
        p.applied(100 * S);
        assert_eq!(p.delay(1045 * S), 30.0);
        // Resumed: caught up to 130, then to everything.
        p.applied(130 * S);
        assert_eq!(p.delay(1046 * S), 0.0);
        // A value this agent did not write (another writer's): everything up to it goes.
        p.written(160 * S, 1060 * S);
        p.written(175 * S, 1075 * S);
        p.applied(170 * S);
        assert_eq!(p.delay(1080 * S), 5.0);
        p.applied(175 * S);
        // The primary's clock stepped back: the exact value still matches.
        p.written(50 * S, 1090 * S);
        p.written(40 * S, 1105 * S);
        p.applied(50 * S);
        assert_eq!(p.delay(1110 * S), 5.0);
    }

    #[test]
    fn pending_is_bounded_and_keeps_the_oldest() {
        let mut p = Pending::default();
        for i in 0..(MAX_PENDING + 10) {
            p.written(i as i64, i as i64 * S);
        }
        assert_eq!(p.entries.len(), MAX_PENDING);
        assert_eq!(p.delay(5000 * S), 5000.0);
    }

    /// Regression: #11. A restart used to start the delay of a stalled replica from 0.
    #[test]
    fn the_list_survives_a_restart_and_a_one_shot_run_only_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path(), "postgresql", "shop/replica 1");
        assert!(file.ends_with("heartbeat/postgresql-shop_replica_1.json"));
        let mut p = Pending::load(file.clone(), true);
        p.writer = "shop".into();
        p.written(100 * S, 1000 * S);
        p.written(115 * S, 1015 * S);
        p.save().unwrap();
        let mut again = Pending::load(file.clone(), true);
        assert_eq!(
            (again.writer.as_str(), again.delay(1021 * S)),
            ("shop", 21.0)
        );
        let mut once = Pending::load(file.clone(), false);
        once.applied(115 * S);
        once.save().unwrap();
        again.written(130 * S, 1030 * S);
        assert_eq!(
            Pending::load(file, true).delay(1031 * S),
            31.0,
            "collect --once wrote"
        );
    }

    #[test]
    fn without_a_list_the_servers_seed_an_upper_bound() {
        let mut p = Pending::default();
        // The replica holds 100, the primary 130 (its clock reads 140): writes after 100 wait.
        p.seed(Some(100 * S), Some(130 * S), 140 * S, 2000 * S);
        assert_eq!(p.delay(2000 * S), 40.0);
        // The replica is up to date: nothing waits.
        let mut q = Pending::default();
        q.seed(Some(130 * S), Some(130 * S), 140 * S, 2000 * S);
        assert!(q.is_empty());
        // A remembered list is not overridden.
        p.seed(Some(0), Some(10 * S), 140 * S, 2000 * S);
        assert_eq!(p.delay(2000 * S), 40.0);
        // The replica has no row at all: at least the age of the primary's.
        let mut r = Pending::default();
        r.seed(None, Some(130 * S), 140 * S, 2000 * S);
        assert_eq!(r.delay(2000 * S), 10.0);
    }
}
