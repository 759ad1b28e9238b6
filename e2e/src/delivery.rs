//! Ground truth for the delivery tests: what each agent says it appended to its buffer (its
//! ledger log lines), and what the collector says it accepted (its ledger file).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// One batch: its stream, sequence number and data points.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Batch {
    /// The agent's stream id (`dozor-stream`).
    pub stream: String,
    /// The batch's sequence number (`dozor-seq`).
    pub seq: u64,
    /// Data points in the batch.
    pub points: u64,
}

/// The value of `key=value` in a log line, quotes stripped.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {key}="))? + key.len() + 2;
    let rest = &line[start..];
    let end = rest.find(' ').unwrap_or(rest.len());
    Some(rest[..end].trim_matches('"'))
}

/// Every batch an agent's log reports as appended to its buffer (target
/// `dozor_agent::export::ledger`), in log order, across restarts when several logs are given.
pub fn appended(logs: &[&Path]) -> Vec<Batch> {
    let mut out = Vec::new();
    for log in logs {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for line in text.lines() {
            if !line.contains("dozor_agent::export::ledger") {
                continue;
            }
            let (Some(seq), Some(points)) = (field(line, "seq"), field(line, "points")) else {
                continue;
            };
            let (Ok(seq), Ok(points)) = (seq.parse(), points.parse()) else {
                panic!("{}: unparsable ledger line: {line}", log.display());
            };
            out.push(Batch {
                stream: field(line, "stream").unwrap_or("").to_string(),
                seq,
                points,
            });
        }
    }
    out
}

/// Every `first_seq..=last_seq` range an agent's log reports as dropped from its full buffer,
/// with the points it says were dropped.
pub fn dropped(logs: &[&Path]) -> Vec<(u64, u64, u64)> {
    let mut out = Vec::new();
    for log in logs {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for line in text.lines() {
            let (Some(first), Some(last), Some(points)) = (
                field(line, "first_seq"),
                field(line, "last_seq"),
                field(line, "points"),
            ) else {
                continue;
            };
            if let (Ok(a), Ok(b), Ok(p)) = (first.parse(), last.parse(), points.parse()) {
                out.push((a, b, p));
            }
        }
    }
    out
}

/// The config of a demo-only agent `name` sending to the collector's gRPC port, its buffer
/// in `<dir>/<name>-buffer`.
pub fn demo_agent_config(dir: &Path, name: &str, grpc: u16, interval: &str, series: u32) -> String {
    format!(
        "agent:\n  interval: {interval}\n  timeout: 1s\nresource:\n  instance_id: {name}\n\
         exporters:\n  otlp:\n    endpoints: [\"http://127.0.0.1:{grpc}\"]\n    flush_interval: 200ms\n\
         \x20   buffer:\n      path: {}\n\
         integrations:\n  host:\n    enabled: false\n  demo:\n    enabled: true\n    series: {series}\n",
        dir.join(format!("{name}-buffer")).display()
    )
}

/// Whether every one of `agents` has at least `n` batches in the ledger.
pub fn all_accepted(ledger: &Path, agents: &[&str], n: usize) -> bool {
    let accepted = Accepted::read(ledger);
    agents.iter().all(|a| accepted.of(a).len() >= n)
}

/// Whether every one of `agents` (logs `<dir>/<name>.log`) has appended at least `min`
/// batches besides its last two, and all of those (not the last two, which may still be in
/// flight) are in the ledger.
pub fn caught_up(dir: &Path, ledger: &Path, agents: &[&str], min: usize) -> bool {
    let accepted = Accepted::read(ledger);
    agents.iter().all(|a| {
        let all = appended(&[&dir.join(format!("{a}.log"))]);
        let settled = &all[..all.len().saturating_sub(2)];
        settled.len() >= min && missing(settled, &accepted.of(a)).is_empty()
    })
}

/// Every batch agent `name` appended (its log `<dir>/<name>.log`), and those of them that
/// `accepted` lacks and that are not waiting in its buffer `<dir>/<name>-buffer` for its next
/// start (a batch appended during shutdown is kept, not lost).
pub fn lost(dir: &Path, name: &str, accepted: &Accepted) -> (Vec<Batch>, Vec<Batch>) {
    let all = appended(&[&dir.join(format!("{name}.log"))]);
    let on_disk = pending_on_disk(&dir.join(format!("{name}-buffer")));
    let lost = missing(&all, &accepted.of(name))
        .into_iter()
        .filter(|b| !on_disk.contains(&b.seq))
        .collect();
    (all, lost)
}

/// The points of every batch an agent's log reports as never written to its buffer (a full
/// disk with nothing of its own left to drop), across restarts when several logs are given.
pub fn failed_writes(logs: &[&Path]) -> Vec<u64> {
    let mut out = Vec::new();
    for log in logs {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for line in text.lines() {
            if !line.contains("dozor_agent::export::ledger") || !line.contains("it is dropped") {
                continue;
            }
            if let Some(points) = field(line, "points").and_then(|p| p.parse().ok()) {
                out.push(points);
            }
        }
    }
    out
}

/// The collector's ledger: for every agent, each accepted batch, and how often each
/// (stream, seq) was accepted (more than once is a duplicate that reached the store).
#[derive(Debug, Default)]
pub struct Accepted {
    /// agent → (stream, seq) → points.
    pub batches: HashMap<String, BTreeMap<(String, u64), u64>>,
    /// (agent, stream, seq) accepted more than once.
    pub duplicates: Vec<(String, String, u64)>,
}

impl Accepted {
    /// Reads `A <agent> <stream> <seq> <points>` lines; other line kinds are state, not batches.
    pub fn read(path: &Path) -> Accepted {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let mut out = Accepted::default();
        for line in text.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            if f.first() != Some(&"A") || f.len() != 5 {
                continue;
            }
            let (Ok(seq), Ok(points)) = (f[3].parse::<u64>(), f[4].parse::<u64>()) else {
                panic!("{}: unparsable ledger line: {line}", path.display());
            };
            let agent = out.batches.entry(f[1].to_string()).or_default();
            if agent.insert((f[2].to_string(), seq), points).is_some() {
                out.duplicates
                    .push((f[1].to_string(), f[2].to_string(), seq));
            }
        }
        out
    }

    /// The batches accepted from `agent`.
    pub fn of(&self, agent: &str) -> BTreeMap<(String, u64), u64> {
        self.batches.get(agent).cloned().unwrap_or_default()
    }
}

/// The appended batches that the collector has not accepted (by stream and seq; a stream of ""
/// in the agent log matches any stream), and the batches whose point counts disagree.
pub fn missing(appended: &[Batch], accepted: &BTreeMap<(String, u64), u64>) -> Vec<Batch> {
    appended
        .iter()
        .filter(|b| {
            let found = if b.stream.is_empty() {
                accepted
                    .iter()
                    .find(|((_, s), _)| *s == b.seq)
                    .map(|(_, p)| *p)
            } else {
                accepted.get(&(b.stream.clone(), b.seq)).copied()
            };
            found != Some(b.points)
        })
        .cloned()
        .collect()
}

/// The value of the first series of `/metrics` text whose line starts with `prefix` and
/// contains every one of `labels`.
pub fn metric(body: &str, prefix: &str, labels: &[&str]) -> Option<f64> {
    body.lines()
        .filter(|l| l.starts_with(prefix) && labels.iter().all(|x| l.contains(x)))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

/// The sum over every series of `/metrics` text whose line starts with `prefix` and contains
/// every one of `labels`.
pub fn metric_sum(body: &str, prefix: &str, labels: &[&str]) -> f64 {
    body.lines()
        .filter(|l| l.starts_with(prefix) && labels.iter().all(|x| l.contains(x)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The sequence numbers still waiting in a stopped agent's buffer directory (appended, not
/// acknowledged): they are sent on the agent's next start, so they are not lost.
pub fn pending_on_disk(dir: &Path) -> Vec<u64> {
    if !dir.exists() {
        return Vec::new();
    }
    let mut buffer = dozor_buffer::Buffer::open(dir, dozor_buffer::Options::default())
        .unwrap_or_else(|e| panic!("opening {}: {e}", dir.display()));
    let mut seqs = Vec::new();
    while let Some(record) = buffer
        .read_next()
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
    {
        seqs.push(record.seq);
    }
    seqs
}
