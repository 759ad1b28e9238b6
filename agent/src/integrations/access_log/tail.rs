//! Following one access log by path, as `tail -F` does but without losing or repeating a line:
//! a file is known by its device, inode and a hash of its first bytes (so a new file that
//! reuses an inode is a new file). Rotation by rename: the renamed file is read to its end
//! through the handle still open, then the new file from its start. Copytruncate: a file
//! shorter than the position, or whose first bytes changed, is read again from 0. An unfinished
//! last line waits for its newline (it is re-read, not buffered); a line longer than the limit
//! is counted once and skipped to its newline, so memory stays one buffer.

use super::file::Open;
use super::position::{Position, Saved};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// What reading hands on.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// One complete line, without its `\n` (and `\r`).
    Line(&'a [u8]),
    /// A line longer than the limit, skipped.
    TooLong,
    /// The unfinished last line of a rotated file, dropped when the file was let go.
    Truncated,
}

/// Rotations seen, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rotations {
    /// The path named another file (or none).
    pub rename: u64,
    /// The file shrank below the position or its first bytes changed.
    pub truncate: u64,
    /// At start, the saved file was found neither at the path nor at `<path>.1`.
    pub replaced: u64,
}

/// Where to start the very first time, with no saved position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(rename_all = "snake_case")]
pub enum ReadFrom {
    /// After the last complete line: only requests from now on.
    #[default]
    End,
    /// From the first line.
    Beginning,
}

/// What one [`Tail::read`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Bytes consumed.
    pub read: u64,
    /// Bytes written and not consumed yet, in every open file.
    pub behind: u64,
}

/// One followed log.
pub struct Tail {
    path: PathBuf,
    current: Option<Open>,
    rotated: Option<Open>,
    saved: Option<Saved>,
    started: bool,
    read_from: ReadFrom,
    max_line: usize,
    buf: Vec<u8>,
    /// Rotations seen since the start.
    pub rotations: Rotations,
}

impl Tail {
    /// Follows `path` from `saved` (a previous run's position), else from `read_from`; lines
    /// longer than `max_line` bytes are skipped.
    pub fn new(path: &Path, saved: Option<Saved>, read_from: ReadFrom, max_line: usize) -> Tail {
        Tail {
            path: path.to_owned(),
            current: None,
            rotated: None,
            saved,
            started: false,
            read_from,
            max_line,
            buf: vec![0; (max_line + 1).max(64 * 1024)],
            rotations: Rotations::default(),
        }
    }

    /// Where a renamed log is looked for at start (logrotate's first generation).
    fn rotated_path(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".1");
        p.into()
    }

    /// Whether a file is being read (false while the path names none).
    pub fn is_open(&self) -> bool {
        self.current.is_some() || self.rotated.is_some()
    }

    /// The positions to save.
    pub fn saved(&self) -> Saved {
        if !self.started {
            return self.saved.clone().unwrap_or_default();
        }
        Saved {
            current: self.current.as_ref().map(|o| o.pos),
            rotated: self.rotated.as_ref().map(|o| o.pos),
        }
    }

    /// The first open: the saved positions back on their files.
    fn start(&mut self) -> io::Result<()> {
        let Some(mut cur) = Open::at(&self.path)? else {
            // Created after the agent started: everything in it will be new.
            self.read_from = ReadFrom::Beginning;
            return Ok(());
        };
        self.started = true;
        let Some(saved) = self.saved.take() else {
            let size = cur.size()?;
            if self.read_from == ReadFrom::End && size > 0 {
                let mut last = [0];
                cur.file.read_exact_at(&mut last, size - 1)?;
                cur.pos.offset = size;
                cur.pos.skipping = last[0] != b'\n';
            }
            self.current = Some(cur);
            return Ok(());
        };
        let mut old = Open::at(&self.rotated_path())?;
        let mut found = false;
        if let Some(p) = &saved.current {
            found = cur.resume(p)?;
            if !found
                && let Some(o) = old.as_mut()
                && o.resume(p)?
            {
                self.rotations.rename += 1;
                self.rotated = old.take();
                found = true;
            }
        }
        if let (Some(p), Some(o)) = (&saved.rotated, old.as_mut())
            && self.rotated.is_none()
            && o.resume(p)?
        {
            self.rotated = old.take();
        }
        if let (Some(p), false) = (&saved.current, found) {
            let mut copy = Open::at(&self.rotated_path())?;
            let is_copy = match copy.as_mut() {
                Some(c) if self.rotated.is_none() => c.copy_of(p)?,
                _ => false,
            };
            if is_copy {
                self.rotations.truncate += 1;
                self.rotated = copy;
            } else {
                self.rotations.replaced += 1;
            }
        }
        self.current = Some(cur);
        Ok(())
    }

    /// Reads what was written since the last call, about `budget` bytes at most (whole lines),
    /// the rotated file first; hands every line to `f`.
    pub fn read(&mut self, budget: u64, f: &mut dyn FnMut(Event<'_>)) -> io::Result<Progress> {
        if !self.started {
            self.start()?;
        }
        let mut read = 0;
        if let Some(cur) = &self.current {
            let moved = match std::fs::metadata(&self.path) {
                Ok(m) => (m.dev(), m.ino()) != (cur.pos.dev, cur.pos.ino),
                Err(e) if e.kind() == io::ErrorKind::NotFound => true,
                Err(e) => return Err(e),
            };
            if moved {
                self.rotations.rename += 1;
                let cur = self.current.take();
                read += self.rotate(cur, f)?;
            }
        }
        self.check_truncated(f)?;
        if let Some(mut old) = self.rotated.take() {
            let n = self.pump(&mut old, true, budget, f)?;
            read += n;
            old.idle = if n == 0 { old.idle + 1 } else { 0 };
            self.rotated = Some(old);
        }
        if self.current.is_none() {
            self.current = Open::at(&self.path)?;
        }
        if let Some(mut cur) = self.current.take() {
            read += self.pump(&mut cur, false, budget.saturating_sub(read), f)?;
            self.current = Some(cur);
        }
        // The writer has moved on once the new file has data (nginx after USR1), or the old
        // one stayed unchanged for two collections.
        let new_started = match &self.current {
            Some(c) => c.size()? > 0,
            None => false,
        };
        if let Some(old) = self.rotated.take() {
            if old.idle >= 2 || (old.idle >= 1 && new_started) {
                self.let_go(&old, f)?;
            } else {
                self.rotated = Some(old);
            }
        }
        let mut behind = 0;
        for o in [&self.rotated, &self.current].into_iter().flatten() {
            behind += o.size()?.saturating_sub(o.pos.offset);
        }
        Ok(Progress { read, behind })
    }

    /// Makes `next` the rotated file to finish. One not finished yet (a second rotation in
    /// one interval) is read to its end first; returns the bytes that took.
    fn rotate(&mut self, next: Option<Open>, f: &mut dyn FnMut(Event<'_>)) -> io::Result<u64> {
        let mut read = 0;
        if let Some(mut older) = self.rotated.take() {
            read = self.pump(&mut older, true, u64::MAX, f)?;
            self.let_go(&older, f)?;
        }
        self.rotated = next;
        Ok(read)
    }

    /// Copytruncate: the current file shrank below the position or its first bytes changed.
    /// It is read again from 0, after the rest of the copy at `<path>.1` when that copy starts
    /// with the same bytes and reaches the position.
    fn check_truncated(&mut self, f: &mut dyn FnMut(Event<'_>)) -> io::Result<()> {
        let Some(cur) = self.current.as_mut() else {
            return Ok(());
        };
        if cur.size()? >= cur.pos.offset && cur.same_start()? {
            return Ok(());
        }
        self.rotations.truncate += 1;
        let saved = cur.pos;
        cur.pos = Position {
            fp_len: 0,
            offset: 0,
            skipping: false,
            ..saved
        };
        cur.same_start()?;
        if let Some(mut copy) = Open::at(&self.rotated_path())?
            && copy.copy_of(&saved)?
        {
            self.rotate(Some(copy), f)?;
        }
        Ok(())
    }

    /// Closes a rotated file read to its end; an unfinished last line is counted.
    fn let_go(&self, old: &Open, f: &mut dyn FnMut(Event<'_>)) -> io::Result<()> {
        if old.size()? > old.pos.offset && !old.pos.skipping {
            f(Event::Truncated);
        }
        Ok(())
    }

    /// Reads whole lines of `o` from its position, about `budget` bytes; returns the bytes
    /// consumed.
    fn pump(
        &mut self,
        o: &mut Open,
        rotated: bool,
        budget: u64,
        f: &mut dyn FnMut(Event<'_>),
    ) -> io::Result<u64> {
        let size = o.size()?;
        if size < o.pos.offset || !o.same_start()? {
            if rotated {
                // A rotated file rewritten under us (not by logrotate): nothing in it is ours.
                o.pos.offset = size;
                o.pos.skipping = true;
                return Ok(0);
            }
            self.rotations.truncate += 1;
            o.pos = Position {
                fp_len: 0,
                offset: 0,
                skipping: false,
                ..o.pos
            };
            o.same_start()?;
        }
        let mut consumed = 0;
        while consumed < budget {
            let n = o.file.read_at(&mut self.buf, o.pos.offset)?;
            let data = &self.buf[..n];
            let mut start = 0;
            while let Some(nl) = data[start..].iter().position(|b| *b == b'\n') {
                let line = &data[start..start + nl];
                if o.pos.skipping {
                    o.pos.skipping = false;
                } else if line.len() > self.max_line {
                    f(Event::TooLong);
                } else {
                    f(Event::Line(line.strip_suffix(b"\r").unwrap_or(line)));
                }
                start += nl + 1;
            }
            if o.pos.skipping {
                start = n;
            } else if n - start > self.max_line {
                f(Event::TooLong);
                o.pos.skipping = true;
                start = n;
            }
            o.pos.offset += start as u64;
            consumed += start as u64;
            if start == 0 || n < self.buf.len() {
                break;
            }
        }
        Ok(consumed)
    }
}
