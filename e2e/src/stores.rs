//! VictoriaMetrics (Debian's, single node) with command-line flags of the test's choosing, on a
//! free loopback port, stopped and started again on its data directory.
//!
//! `dozor_testkit::VictoriaMetrics` starts it with fixed flags; the failover test needs
//! `-dedup.minScrapeInterval` (one sample per timestamp, as `docs/scaling.md` says to run it
//! behind several collectors), so this one takes extra flags.

use dozor_testkit::{Proc, free_port, http_get, tool, wait_for};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A running (or stopped) VictoriaMetrics.
pub struct VictoriaMetrics {
    /// The process, while it runs.
    pub proc: Option<Proc>,
    /// `host:port` of its HTTP API (remote_write at `/api/v1/write`).
    pub addr: String,
    dir: PathBuf,
    flags: Vec<String>,
}

impl VictoriaMetrics {
    /// Starts VictoriaMetrics with its data in `<dir>/data` and the extra command-line `flags`,
    /// and waits until it is healthy.
    pub fn start_with(dir: &Path, flags: &[&str]) -> VictoriaMetrics {
        std::fs::create_dir_all(dir).expect("creating the VictoriaMetrics directory");
        let mut vm = VictoriaMetrics {
            proc: None,
            addr: format!("127.0.0.1:{}", free_port()),
            dir: dir.to_path_buf(),
            flags: flags.iter().map(|f| f.to_string()).collect(),
        };
        vm.restart();
        vm
    }

    /// Stops it (SIGTERM, as a service manager would; SIGKILL after 30 s).
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take()
            && p.terminate(Duration::from_secs(30)).is_none()
        {
            p.kill();
        }
    }

    /// Starts it again on the same port and data directory.
    pub fn restart(&mut self) {
        self.stop();
        let proc = Proc::spawn_appending(
            "victoria-metrics",
            &self.dir,
            Command::new(tool("victoria-metrics", "victoria-metrics"))
                .arg(format!("-httpListenAddr={}", self.addr))
                .arg(format!(
                    "-storageDataPath={}",
                    self.dir.join("data").display()
                ))
                .arg("-retentionPeriod=1")
                // Samples are searchable at once (by default the last 30 s are not).
                .arg("-search.latencyOffset=0s")
                .args(&self.flags),
        );
        let addr = self.addr.clone();
        wait_for(Duration::from_secs(60), || {
            http_get(&addr, "/health").ok().filter(|(s, _)| *s == 200)
        })
        .unwrap_or_else(|| panic!("VictoriaMetrics did not become healthy:\n{}", proc.output()));
        self.proc = Some(proc);
    }
}
