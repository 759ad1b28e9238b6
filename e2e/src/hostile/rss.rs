//! The resident memory of a process under test, from `/proc/<pid>/status`: `VmRSS` sampled
//! every 100 ms by a thread, and the kernel's own high-water mark `VmHWM`, which also catches
//! a peak between two samples.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// The interval between two `VmRSS` samples.
pub const INTERVAL: Duration = Duration::from_millis(100);

/// A field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`), `None` once the process is gone.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// What a [`Sampler`] saw, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peak {
    /// The largest `VmRSS` sampled.
    pub rss: u64,
    /// `VmHWM` at the end: since the sampler started when `hwm_reset`, else since the process
    /// started.
    pub hwm: u64,
    /// Whether `VmHWM` was reset when the sampler started (`/proc/<pid>/clear_refs`).
    pub hwm_reset: bool,
    /// How many samples were taken.
    pub samples: u64,
}

impl Peak {
    /// The larger of the two peaks.
    pub fn max(&self) -> u64 {
        self.rss.max(self.hwm)
    }
}

impl std::fmt::Display for Peak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "peak VmRSS {} MiB ({} samples), VmHWM {} MiB{}",
            self.rss >> 20,
            self.samples,
            self.hwm >> 20,
            if self.hwm_reset { "" } else { " (since start)" }
        )
    }
}

/// A thread sampling a process's `VmRSS` until [`Sampler::finish`].
pub struct Sampler {
    pid: u32,
    hwm_reset: bool,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<(u64, u64)>,
}

impl Sampler {
    /// Resets the process's `VmHWM` to its current `VmRSS` (writing `5` to its `clear_refs`,
    /// allowed for one's own processes) and starts sampling.
    pub fn start(pid: u32) -> Sampler {
        let hwm_reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut max, mut samples) = (0, 0);
            while !flag.load(Ordering::Relaxed) {
                if let Some(kib) = status_kib(pid, "VmRSS") {
                    max = max.max(kib * 1024);
                    samples += 1;
                }
                std::thread::sleep(INTERVAL);
            }
            (max, samples)
        });
        Sampler {
            pid,
            hwm_reset,
            stop,
            thread,
        }
    }

    /// Reads `VmHWM`, stops sampling and returns both peaks.
    pub fn finish(self) -> Peak {
        let hwm = status_kib(self.pid, "VmHWM").unwrap_or(0) * 1024;
        self.stop.store(true, Ordering::Relaxed);
        let (rss, samples) = self.thread.join().expect("the sampler thread");
        Peak {
            rss,
            hwm,
            hwm_reset: self.hwm_reset,
            samples,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_this_process() {
        let s = Sampler::start(std::process::id());
        std::thread::sleep(INTERVAL * 3);
        let peak = s.finish();
        assert!(
            peak.samples >= 2 && peak.rss > 0 && peak.hwm > 0,
            "{peak:?}"
        );
        assert!(status_kib(u32::MAX, "VmRSS").is_none());
    }
}
