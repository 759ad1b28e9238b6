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
                .arg(format!("--web.listen-address={addr}")),
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
