//! The ledger file: the sequence state of every stream, as an append-only text log.
//!
//! See the [module documentation](super) for the format. Writing is a plain `write(2)` of
//! whole lines on a file opened for appending (no buffering in the process, no fsync), so a
//! line is in the kernel's page cache before the response leaves: it survives the death of
//! the collector process, not a crash of the machine.

use super::StreamKey;
use super::tracker::Stream;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Why the ledger could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The existing file could not be opened or read.
    #[error("reading ledger {path}: {source}")]
    Read {
        /// The ledger file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A line could not be appended, or the compacted file written.
    #[error("writing ledger {path}: {source}")]
    Write {
        /// The file written.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// One parsed line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// `A <agent> <stream> <seq> <points>`: a batch was accepted.
    Accepted {
        /// Agent and stream.
        key: StreamKey,
        /// Its sequence number.
        seq: u64,
        /// Data points it carried.
        points: u64,
    },
    /// `F <agent> <stream> <floor>`: the floor moved (or the stream is new).
    Floor {
        /// Agent and stream.
        key: StreamKey,
        /// The new floor.
        floor: u64,
    },
    /// `R <agent> <stream> <first> <last>`: a received run above the floor (compaction only).
    Range {
        /// Agent and stream.
        key: StreamKey,
        /// First sequence number of the run.
        first: u64,
        /// Last sequence number of the run, included.
        last: u64,
    },
}

impl Line {
    /// Parses one line, without its newline.
    pub fn parse(line: &str) -> Result<Line, &'static str> {
        let mut f = line.split(' ');
        let kind = f.next().unwrap_or("");
        let (Some(agent), Some(stream)) = (f.next(), f.next()) else {
            return Err("too few fields");
        };
        if !super::valid_agent(agent) {
            return Err("invalid agent name");
        }
        if !super::valid_stream(stream) {
            return Err("invalid stream id");
        }
        let key = StreamKey::new(agent, stream);
        let mut num = || -> Result<u64, &'static str> {
            f.next()
                .ok_or("too few fields")?
                .parse()
                .map_err(|_| "invalid number")
        };
        let line = match kind {
            "A" => Line::Accepted {
                key,
                seq: num()?,
                points: num()?,
            },
            "F" => Line::Floor { key, floor: num()? },
            "R" => {
                let (first, last) = (num()?, num()?);
                if first > last {
                    return Err("range ends before it starts");
                }
                Line::Range { key, first, last }
            }
            _ => return Err("unknown line kind"),
        };
        if f.next().is_some() {
            return Err("too many fields");
        }
        Ok(line)
    }
}

/// Appends `A <agent> <stream> <seq> <points>`.
pub fn accepted(out: &mut String, key: &StreamKey, seq: u64, points: u64) {
    let _ = writeln!(out, "A {} {} {seq} {points}", key.agent, key.stream);
}

/// Appends `F <agent> <stream> <floor>`.
pub fn floor(out: &mut String, key: &StreamKey, floor: u64) {
    let _ = writeln!(out, "F {} {} {floor}", key.agent, key.stream);
}

/// Appends `R <agent> <stream> <first> <last>`: a run received (here or, told by the agent's
/// `dozor-elsewhere`, by another collector).
pub fn range(out: &mut String, key: &StreamKey, first: u64, last: u64) {
    let _ = writeln!(out, "R {} {} {first} {last}", key.agent, key.stream);
}

/// Every stream's state, as the compacted file holds it: `F` then its `R` lines.
pub fn compacted<'a>(streams: impl Iterator<Item = (&'a StreamKey, &'a Stream)>) -> String {
    let mut sorted: Vec<_> = streams.collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::new();
    for (key, s) in sorted {
        floor(&mut out, key, s.floor());
        for (first, last) in s.ranges() {
            range(&mut out, key, first, last);
        }
    }
    out
}

/// A line that could not be applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub error: &'static str,
}

/// The state a ledger's text describes.
#[derive(Debug, Default)]
pub struct Replayed {
    /// Every stream.
    pub streams: HashMap<StreamKey, Stream>,
    /// Lines skipped because they do not parse.
    pub bad: Vec<BadLine>,
    /// Bytes after the last newline: a line cut short by a crash, ignored.
    pub partial_tail: usize,
}

impl Replayed {
    /// Applies one line, as the live collector applied the event it records.
    pub fn apply(&mut self, line: Line) {
        match line {
            Line::Accepted { key, seq, .. } => {
                self.streams
                    .entry(key)
                    .or_insert_with(|| Stream::new(seq))
                    .insert(seq);
            }
            Line::Floor { key, floor } => {
                self.streams
                    .entry(key)
                    .or_insert_with(|| Stream::new(floor))
                    .advance(floor);
            }
            Line::Range { key, first, last } => {
                self.streams
                    .entry(key)
                    .or_insert_with(|| Stream::new(first))
                    .insert_range(first, last);
            }
        }
    }
}

/// Replays a ledger's bytes. Only newline-terminated lines count: a final line without one
/// was cut short (`A a s 12` cut to `A a s 1` would otherwise parse) and is ignored.
pub fn replay(bytes: &[u8]) -> Replayed {
    let mut out = Replayed::default();
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    out.partial_tail = bytes.len() - complete;
    for (i, raw) in bytes[..complete].split(|b| *b == b'\n').enumerate() {
        if raw.is_empty() {
            continue;
        }
        let parsed = std::str::from_utf8(raw)
            .map_err(|_| "not UTF-8")
            .and_then(Line::parse);
        match parsed {
            Ok(line) => out.apply(line),
            Err(error) => out.bad.push(BadLine { line: i + 1, error }),
        }
    }
    out
}

/// The open ledger file.
#[derive(Debug)]
pub struct LedgerFile {
    path: PathBuf,
    file: File,
    bytes: u64,
    /// Compact when the file grows past this.
    threshold: u64,
    max_bytes: u64,
}

impl LedgerFile {
    /// Reads and replays `path` (a missing file is an empty ledger), cuts off a last line left
    /// incomplete by a crash (so the next line does not run into it), and opens it for
    /// appending. The history of `A` lines is kept: the file is compacted only once it grows
    /// past `max_bytes`.
    pub fn open(path: &Path, max_bytes: u64) -> Result<(LedgerFile, Replayed), LedgerError> {
        let read_err = |source| LedgerError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut bytes = Vec::new();
        match File::open(path) {
            Ok(mut f) => {
                f.read_to_end(&mut bytes).map_err(read_err)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(read_err(e)),
        }
        let replayed = replay(&bytes);
        let complete = (bytes.len() - replayed.partial_tail) as u64;
        drop(bytes);
        let write_err = |source| LedgerError::Write {
            path: path.to_path_buf(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(write_err)?;
        file.set_len(complete).map_err(write_err)?;
        let mut ledger = LedgerFile {
            path: path.to_path_buf(),
            file,
            bytes: complete,
            threshold: max_bytes,
            max_bytes,
        };
        if ledger.needs_compaction() {
            ledger.compact(replayed.streams.iter())?;
        }
        Ok((ledger, replayed))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends whole lines with one `write`, or nothing: a write cut short (the disk filled up
    /// during it) is cut off again at once, so no later line ever runs into a torn one.
    pub fn append(&mut self, lines: &str) -> Result<(), LedgerError> {
        if lines.is_empty() {
            return Ok(());
        }
        if let Err(source) = self.file.write_all(lines.as_bytes()) {
            // Shrinking needs no space; should it fail too, the open of the next start cuts
            // the torn tail (it has no newline).
            let _ = self.file.set_len(self.bytes);
            return Err(LedgerError::Write {
                path: self.path.clone(),
                source,
            });
        }
        self.bytes += lines.len() as u64;
        Ok(())
    }

    /// True once the file has grown past `ledger_max_bytes` (or twice its compacted size).
    pub fn needs_compaction(&self) -> bool {
        self.bytes >= self.threshold
    }

    /// Rewrites the file as `F` and `R` lines, atomically (temporary file, then rename).
    pub fn compact<'a>(
        &mut self,
        streams: impl Iterator<Item = (&'a StreamKey, &'a Stream)>,
    ) -> Result<(), LedgerError> {
        let text = compacted(streams);
        self.file = replace(&self.path, &text)?;
        self.bytes = text.len() as u64;
        self.threshold = next_threshold(self.max_bytes, self.bytes);
        Ok(())
    }
}

/// A ledger too large to fit the limit even compacted is compacted again only once it doubled.
fn next_threshold(max_bytes: u64, compacted: u64) -> u64 {
    max_bytes.max(compacted.saturating_mul(2))
}

/// Writes `text` to `path.tmp`, renames it over `path`, and returns `path` open for appending.
fn replace(path: &Path, text: &str) -> Result<File, LedgerError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let write_err = |p: &Path| {
        let p = p.to_path_buf();
        move |source| LedgerError::Write { path: p, source }
    };
    let mut f = File::create(&tmp).map_err(write_err(&tmp))?;
    f.write_all(text.as_bytes()).map_err(write_err(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(write_err(path))?;
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(write_err(path))
}

#[cfg(test)]
mod tests;
