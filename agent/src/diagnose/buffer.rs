//! `buffer`: the buffer directory exists (or can be made), is writable, and its file system
//! has room for `buffer.max_bytes` (statvfs).

use super::report::Outcome;
use super::{Check, Ctx};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The check.
pub fn check(ctx: &Arc<Ctx>) -> Check {
    let ctx = ctx.clone();
    Check::blocking("buffer", Duration::from_secs(3), move |w| {
        let buffer = &ctx.config.exporters.otlp.buffer;
        let dir = buffer.resolved_path();
        w.on(format!("the file system of {}", dir.display()));
        examine(&dir, buffer.max_bytes)
    })
}

/// Writes and removes a probe file in `dir`, then compares free space with `max_bytes`.
fn examine(dir: &Path, max_bytes: u64) -> Outcome {
    let shown = dir.display();
    if let Err(e) = std::fs::create_dir_all(dir) {
        return Outcome::fail(
            format!("cannot create {shown}: {e}"),
            format!(
                "create it for the agent's user: `install -d -o <agent user> {shown}`, or set exporters.otlp.buffer.path"
            ),
        );
    }
    let probe = dir.join(format!(".diagnose-{}", std::process::id()));
    if let Err(e) = std::fs::write(&probe, b"probe") {
        return Outcome::fail(
            format!("cannot write in {shown}: {e}"),
            format!("give the agent's user write access: `chown -R <agent user> {shown}`"),
        );
    }
    let _ = std::fs::remove_file(&probe);
    let stat = match rustix::fs::statvfs(dir) {
        Ok(s) => s,
        Err(e) => {
            return Outcome::warn(
                format!("{shown} is writable; statvfs failed: {e}"),
                "none needed unless the disk is full",
            );
        }
    };
    let free = stat.f_bavail.saturating_mul(stat.f_frsize);
    let used: u64 = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    let needed = max_bytes.saturating_sub(used);
    let detail = format!(
        "{shown} is writable; {} free, the buffer may grow to {} ({} in it now)",
        mib(free),
        mib(max_bytes),
        mib(used)
    );
    if free < needed {
        return Outcome::warn(
            detail,
            format!(
                "free {} on that file system, or lower exporters.otlp.buffer.max_bytes below {}",
                mib(needed - free),
                mib(free + used)
            ),
        );
    }
    Outcome::pass(detail)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1_048_576.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::report::Status;

    #[test]
    fn writable_and_not() {
        let dir = tempfile::tempdir().unwrap();
        let ok = examine(&dir.path().join("buffer"), 1024);
        assert_eq!(ok.status, Status::Pass, "{ok:?}");
        let huge = examine(&dir.path().join("buffer"), u64::MAX / 2);
        assert_eq!(huge.status, Status::Warn, "{huge:?}");
        // A file where the directory should be.
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let bad = examine(&file.join("buffer"), 1024);
        assert_eq!(bad.status, Status::Fail, "{bad:?}");
    }
}
