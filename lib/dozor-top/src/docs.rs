//! Shell completions and man pages, generated from a binary's clap definition so they can
//! never disagree with it: `completions bash|zsh|fish` and `man DIR` on both binaries.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A shell to complete for.
pub use clap_complete::Shell;

/// Writes `shell`'s completion script for `cmd` to `out`.
pub fn completions(mut cmd: clap::Command, shell: Shell, out: &mut dyn Write) {
    let name = cmd.get_name().to_string();
    clap_complete::generate(shell, &mut cmd, name, out);
}

/// Writes one man page per command and subcommand into `dir` (created if missing):
/// `NAME.1`, `NAME-SUB.1`, ... Returns the pages now in `dir`.
pub fn man(cmd: clap::Command, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(cmd, dir)?;
    pages(dir)
}

fn pages(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "1"))
        .collect();
    v.sort();
    Ok(v)
}
