//! `dozor-agent flare`: one `.tar.gz` to send to the SRE: the configuration with its secrets
//! removed ([`scrub`]), the running agent's status, a diagnosis, the last log lines, the
//! buffer's metadata (names, sizes, ages; never contents), versions and host facts.
//!
//! Each part ([`parts`]) runs on a thread of its own under its own timeout; one that fails or
//! does not finish in time is left out and listed in the archive's `MANIFEST` with the reason,
//! so a stuck subsystem never holds the flare. Every part's text goes through the scrubber.

mod archive;
mod parts;
pub mod scrub;

use crate::config::Config;
use crate::integrations::Paths;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// `flare` options.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where to write the archive; `./dozor-flare-<host>-<UTC time>.tar.gz` by default.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Log file to take the last lines of; `journalctl -u dozor-agent` when not given.
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// How many log lines.
    #[arg(long, default_value_t = 2000)]
    pub lines: usize,
}

/// What the parts read.
pub struct Input {
    /// The running agent's admin endpoint (`--admin`, else `admin.listen`), or why not.
    pub admin: Result<crate::admin::client::Client, String>,
    /// The loaded configuration.
    pub config: Config,
    /// Its file.
    pub file: Option<PathBuf>,
    /// File-system roots, for the diagnosis.
    pub paths: Paths,
    /// `--log`.
    pub log: Option<PathBuf>,
    /// `--lines`.
    pub lines: usize,
}

/// One file of the archive, or why it is missing.
type PartResult = Result<Vec<(String, Vec<u8>)>, String>;

/// A part: its name, its timeout and its work.
struct Part {
    name: &'static str,
    timeout: Duration,
    run: fn(&Input, &scrub::Scrubber) -> PartResult,
}

/// The diagnosis inside the flare gets this long.
const DIAGNOSE_BUDGET: Duration = Duration::from_secs(10);

/// The parts, in the order of the MANIFEST.
fn parts() -> Vec<Part> {
    vec![
        Part {
            name: "config",
            timeout: Duration::from_secs(2),
            run: parts::config,
        },
        Part {
            name: "status",
            timeout: Duration::from_secs(5),
            run: parts::status,
        },
        Part {
            name: "diagnose",
            timeout: DIAGNOSE_BUDGET + Duration::from_secs(2),
            run: parts::diagnose,
        },
        Part {
            name: "logs",
            timeout: Duration::from_secs(5),
            run: parts::logs,
        },
        Part {
            name: "buffer",
            timeout: Duration::from_secs(3),
            run: parts::buffer,
        },
        Part {
            name: "host",
            timeout: Duration::from_secs(2),
            run: parts::host,
        },
    ]
}

/// `dozor-agent flare`.
pub fn main(
    config: Config,
    file: Option<PathBuf>,
    paths: &Paths,
    args: &Args,
    (admin, admin_token_file): &(Option<String>, Option<PathBuf>),
) -> anyhow::Result<ExitCode> {
    let stamp = parts::utc_stamp();
    let host = parts::hostname();
    let dir = format!("dozor-flare-{host}-{stamp}");
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{dir}.tar.gz")));
    let mut scrubber = scrub::Scrubber::default();
    parts::know_secrets(&config, file.as_deref(), &mut scrubber);
    let admin = crate::admin::client::Client::from_config(
        admin.as_deref(),
        admin_token_file.as_deref(),
        &config.admin,
        parts::STATUS_TIMEOUT,
    )
    .map_err(|e| format!("{e}: {}", e.fix()));
    let input = Arc::new(Input {
        admin,
        config,
        file,
        paths: Paths {
            procfs: paths.procfs.clone(),
            sysfs: paths.sysfs.clone(),
            rootfs: paths.rootfs.clone(),
        },
        log: args.log.clone(),
        lines: args.lines,
    });
    let scrubber = Arc::new(scrubber);
    let list = parts();
    let progress = Progress::new(list.len() as u64);
    let (tx, rx) = mpsc::channel();
    let started = Instant::now();
    for (i, part) in list.iter().enumerate() {
        let (tx, input, scrubber, run) = (tx.clone(), input.clone(), scrubber.clone(), part.run);
        // Detached: a part that never returns is abandoned, not joined.
        let _ = std::thread::Builder::new()
            .name(format!("flare-{}", part.name))
            .spawn(move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run(&input, &scrubber)
                }))
                .unwrap_or_else(|_| Err("the part panicked".into()));
                let _ = tx.send((i, result));
            });
    }
    drop(tx);
    let mut results: Vec<Option<(PartResult, Duration)>> = list.iter().map(|_| None).collect();
    let last_deadline = list.iter().map(|p| p.timeout).max().unwrap_or_default();
    while results.iter().any(Option::is_none) {
        let now = started.elapsed();
        if now >= last_deadline {
            break;
        }
        match rx.recv_timeout(last_deadline - now) {
            Ok((i, result)) => {
                let took = started.elapsed();
                let result = if took > list[i].timeout {
                    Err(format!(
                        "timed out after {:.1} s",
                        list[i].timeout.as_secs_f64()
                    ))
                } else {
                    result
                };
                progress.done(list[i].name, result.as_ref().err());
                results[i] = Some((result, took));
            }
            Err(_) => break,
        }
    }
    let mut files = Vec::new();
    let mut manifest = format!(
        "dozor-agent {} flare, {stamp}, host {host}\n\n",
        env!("CARGO_PKG_VERSION")
    );
    for (part, result) in list.iter().zip(results) {
        match result {
            Some((Ok(part_files), took)) => {
                for (name, data) in part_files {
                    manifest.push_str(&format!(
                        "ok       {} {name} ({} bytes, {:.1} s)\n",
                        part.name,
                        data.len(),
                        took.as_secs_f64()
                    ));
                    files.push((name, data));
                }
            }
            Some((Err(why), _)) => manifest.push_str(&format!(
                "missing  {}: {}\n",
                part.name,
                scrubber.text(&why)
            )),
            None => {
                progress.done(part.name, Some(&"timed out".to_string()));
                manifest.push_str(&format!(
                    "missing  {}: timed out after {:.1} s\n",
                    part.name,
                    part.timeout.as_secs_f64()
                ));
            }
        }
    }
    files.push(("MANIFEST".into(), manifest.into_bytes()));
    progress.finish();
    let size = archive::write(&output, &dir, &files)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", output.display()))?;
    println!("{} ({:.1} KiB)", output.display(), size as f64 / 1024.0);
    Ok(ExitCode::SUCCESS)
}

/// A progress bar on a terminal, plain lines on stderr otherwise.
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(len: u64) -> Progress {
        if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::new(len);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{spinner} flare [{bar:30}] {pos}/{len} {msg}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(Duration::from_millis(100));
        Progress(Some(bar))
    }

    fn done(&self, part: &str, error: Option<&String>) {
        let what = match error {
            None => format!("{part}: ok"),
            Some(e) => format!("{part}: missing ({})", e.lines().next().unwrap_or("")),
        };
        match &self.0 {
            Some(bar) => {
                bar.set_message(what);
                bar.inc(1);
            }
            None => eprintln!("flare: {what}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
