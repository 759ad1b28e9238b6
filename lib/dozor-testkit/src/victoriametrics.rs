//! A real VictoriaMetrics single node (Debian's `victoria-metrics`) on a free loopback port
//! with a data directory of its own: a remote_write store whose raw samples the tests read
//! back (`/api/v1/export` after `/internal/force_flush`), never through a range query, which
//! fills holes from its lookback window.

use crate::http::{http_get, url_encode};
use crate::proc::{Proc, free_port, tool, wait_for};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A series' labels (`__name__` included) and its raw samples `(Unix ms, value)`, oldest
/// first.
pub type Exported = (BTreeMap<String, String>, Vec<(i64, f64)>);

/// A running (or stopped) VictoriaMetrics.
pub struct VictoriaMetrics {
    /// The process, `None` while stopped.
    pub proc: Option<Proc>,
    /// `host:port` of its HTTP API.
    pub addr: String,
    dir: PathBuf,
    flags: Vec<String>,
}

impl VictoriaMetrics {
    /// Starts VictoriaMetrics on a free port with its data in `<dir>/vm-data` (retention 100
    /// years, so old samples a test writes are kept) and waits until it answers.
    pub fn start(dir: &Path) -> VictoriaMetrics {
        VictoriaMetrics::start_with(dir, &[])
    }

    /// [`VictoriaMetrics::start`] with extra command-line `flags` (kept across restarts), such
    /// as `-dedup.minScrapeInterval=1ms`, which keeps one sample per timestamp.
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

    /// The remote_write URL.
    pub fn write_url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    /// Stops it (SIGTERM, so it flushes its data; SIGKILL after 30 s).
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take()
            && p.terminate(Duration::from_secs(30)).is_none()
        {
            p.kill();
        }
    }

    /// Starts it again on the same port and data directory (after [`VictoriaMetrics::stop`]).
    pub fn restart(&mut self) {
        assert!(self.proc.is_none(), "VictoriaMetrics is running");
        let proc = Proc::spawn_appending(
            "victoria-metrics",
            &self.dir,
            Command::new(tool("victoria-metrics", "victoria-metrics"))
                .arg(format!("-httpListenAddr={}", self.addr))
                .arg(format!(
                    "-storageDataPath={}",
                    self.dir.join("vm-data").display()
                ))
                .arg("-retentionPeriod=100y")
                // Samples are searchable at once (default: those of the last 30 s are not).
                .arg("-search.latencyOffset=0s")
                .args(&self.flags),
        );
        wait_for(Duration::from_secs(60), || {
            http_get(&self.addr, "/health")
                .ok()
                .filter(|(s, _)| *s == 200)
        })
        .unwrap_or_else(|| panic!("VictoriaMetrics did not start:\n{}", proc.output()));
        self.proc = Some(proc);
    }

    /// Makes every sample received so far visible to queries and exports.
    pub fn force_flush(&self) {
        let (status, body) =
            http_get(&self.addr, "/internal/force_flush").expect("VictoriaMetrics force_flush");
        assert_eq!(status, 200, "force_flush: {body}");
    }

    /// Every raw sample of the series matching `selector` (e.g. `{__name__=~"up|x"}`), after a
    /// [`VictoriaMetrics::force_flush`]; series sorted by labels.
    pub fn export(&self, selector: &str) -> Vec<Exported> {
        self.force_flush();
        let path = format!("/api/v1/export?match[]={}&start=0", url_encode(selector));
        let (status, body) = http_get(&self.addr, &path).expect("VictoriaMetrics export");
        assert_eq!(status, 200, "export {selector}: {body}");
        let mut out = parse_export(&body);
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The process's log so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.dir.join("victoria-metrics.log")).unwrap_or_default()
    }
}

/// Parses `/api/v1/export` JSON lines: `{"metric":{...},"values":[...],"timestamps":[...]}`.
/// Samples are sorted by time (an export may hold several blocks of one series).
pub fn parse_export(body: &str) -> Vec<Exported> {
    body.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("export line is not JSON ({e}): {line}"));
            let labels = v["metric"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let values = v["values"].as_array().cloned().unwrap_or_default();
            let times = v["timestamps"].as_array().cloned().unwrap_or_default();
            let mut samples: Vec<(i64, f64)> = times
                .iter()
                .zip(&values)
                .map(|(t, v)| {
                    let value = v
                        .as_f64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                        .unwrap_or(f64::NAN);
                    (t.as_i64().unwrap_or_default(), value)
                })
                .collect();
            samples.sort_by_key(|s| s.0);
            (labels, samples)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn export_lines_parse() {
        let body = "{\"metric\":{\"__name__\":\"up\",\"job\":\"j\"},\"values\":[2,1],\"timestamps\":[2000,1000]}\n";
        let got = super::parse_export(body);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0["job"], "j");
        assert_eq!(got[0].1, vec![(1000, 1.0), (2000, 2.0)]);
    }
}
