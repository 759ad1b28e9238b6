//! A real Prometheus (Debian's `prometheus`) on a free loopback port.

use crate::http::http_get;
use crate::proc::{Proc, free_port, tool, wait_for};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A running Prometheus.
pub struct Prometheus {
    /// The process.
    pub proc: Proc,
    /// `host:port` of its web API.
    pub addr: String,
}

impl Prometheus {
    /// Writes `config` (YAML) to `<dir>/prometheus.yml`, starts Prometheus on it with its TSDB
    /// in `<dir>/tsdb`, and waits until it is ready.
    pub fn start(dir: &Path, config: &str) -> Prometheus {
        Prometheus::start_with(dir, config, &[])
    }

    /// A Prometheus that accepts remote_write on `/api/v1/write`
    /// (`--web.enable-remote-write-receiver`), with `storage.tsdb.out_of_order_time_window`
    /// set to `out_of_order_window` (`10m`) when given: without one it refuses any sample
    /// older than the newest of its series (400).
    pub fn remote_write_receiver(dir: &Path, out_of_order_window: Option<&str>) -> Prometheus {
        let config = match out_of_order_window {
            Some(w) => format!("storage:\n  tsdb:\n    out_of_order_time_window: {w}\n"),
            None => String::new(),
        };
        Prometheus::start_with(dir, &config, &["--web.enable-remote-write-receiver"])
    }

    /// The remote_write URL (of a [`Prometheus::remote_write_receiver`]).
    pub fn write_url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    /// Every raw sample of the series matching `selector` within the last `range` (`10y`):
    /// an instant query of the range selector `selector[range]`, never a range query (which
    /// fills holes from its lookback window). Series sorted by labels, samples by time.
    pub fn raw_samples(
        &self,
        selector: &str,
        range: &str,
    ) -> Vec<crate::victoriametrics::Exported> {
        let v = crate::http::prom_query(&self.addr, &format!("{selector}[{range}]"));
        assert_eq!(
            v["status"], "success",
            "query {selector}[{range}] failed: {v}"
        );
        let mut out: Vec<crate::victoriametrics::Exported> = v["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|r| {
                let labels = r["metric"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                let samples = r["values"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|p| {
                        let t = p[0].as_f64().unwrap_or_default();
                        let v = p[1]
                            .as_str()
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(f64::NAN);
                        ((t * 1000.0).round() as i64, v)
                    })
                    .collect();
                (labels, samples)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// [`Prometheus::start`] with extra command-line flags.
    pub fn start_with(dir: &Path, config: &str, flags: &[&str]) -> Prometheus {
        let addr = format!("127.0.0.1:{}", free_port());
        let file = dir.join("prometheus.yml");
        std::fs::write(&file, config).expect("writing prometheus.yml");
        let proc = Proc::spawn(
            "prometheus",
            dir,
            Command::new(tool("prometheus", "prometheus"))
                .arg(format!("--config.file={}", file.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("tsdb").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .args(flags),
        );
        wait_for(Duration::from_secs(60), || {
            http_get(&addr, "/-/ready").ok().filter(|(s, _)| *s == 200)
        })
        .unwrap_or_else(|| panic!("Prometheus did not become ready:\n{}", proc.output()));
        Prometheus { proc, addr }
    }

    /// A Prometheus whose TSDB already holds `series` (OpenMetrics text, timestamps in the
    /// past), loaded with `promtool tsdb create-blocks-from openmetrics`, evaluating the rule
    /// files `rules` (paths) every second: for the tests that check dashboards against a
    /// history they wrote themselves.
    pub fn with_history(dir: &Path, series: &str, rules: &[&Path]) -> Prometheus {
        let file = dir.join("series.om");
        std::fs::write(&file, series).expect("writing series.om");
        let out = Command::new(tool("promtool", "prometheus"))
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&file)
            .arg(dir.join("tsdb"))
            .output()
            .expect("running promtool");
        assert!(
            out.status.success(),
            "promtool tsdb create-blocks-from openmetrics: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut config = "global:\n  evaluation_interval: 1s\nrule_files:\n".to_string();
        for r in rules {
            config.push_str(&format!("  - {}\n", r.display()));
        }
        Prometheus::start(dir, &config)
    }
}
