//! Where a dozor binary keeps its state (buffers, outboxes, state files) unless configured:
//! `$STATE_DIRECTORY` (systemd's `StateDirectory=`; the first of several), else
//! `/var/lib/<program>` as root, else `$XDG_STATE_HOME/<program>` or
//! `~/.local/state/<program>`.

use std::path::PathBuf;

/// The default state directory of `program` (`dozor-agent`, `dozor-collector`) for how it runs.
pub fn state_dir(program: &str) -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = env("STATE_DIRECTORY") {
        // systemd lists several directories separated by ':'; the first is ours.
        let all = dir.to_string_lossy().into_owned();
        return PathBuf::from(all.split(':').next().unwrap_or_default());
    }
    if effective_uid() == 0 {
        return PathBuf::from("/var/lib").join(program);
    }
    env("XDG_STATE_HOME")
        .or_else(|| env("HOME").map(|h| h.join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join(program)
}

/// The effective user id, from `/proc/self/status` (`geteuid` would need `unsafe`).
fn effective_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(u32::MAX)
}
