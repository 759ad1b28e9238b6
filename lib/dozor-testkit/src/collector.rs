//! The real `dozor-collector` and `dozor-agent` binaries as processes on free loopback ports.

use crate::http::http_get;
use crate::proc::{Proc, bin, wait_for};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A running `dozor-collector` on free loopback ports.
pub struct Collector {
    /// The process.
    pub proc: Proc,
    /// OTLP/gRPC port.
    pub grpc: u16,
    /// OTLP/HTTP port.
    pub http: u16,
    /// `host:port` of `/metrics`.
    pub metrics: String,
}

impl Collector {
    /// Starts a collector with `extra` YAML appended to its config (e.g. a `store:` section) and
    /// waits until it is healthy.
    pub fn start(dir: &Path, extra: &str) -> Collector {
        let ports = Collector::free_ports();
        Collector::start_on(dir, ports, extra)
    }

    /// Three distinct free ports (gRPC, HTTP, `/metrics` address) for [`Collector::start_on`]:
    /// all three are held open while they are picked, so that none comes back twice.
    pub fn free_ports() -> (u16, u16, String) {
        let hold = || std::net::TcpListener::bind("127.0.0.1:0").expect("no free port");
        let (a, b, c) = (hold(), hold(), hold());
        let port = |l: &std::net::TcpListener| l.local_addr().expect("bound").port();
        (port(&a), port(&b), format!("127.0.0.1:{}", port(&c)))
    }

    /// The ports this collector listens on, for [`Collector::start_on`] after a restart.
    pub fn ports(&self) -> (u16, u16, String) {
        (self.grpc, self.http, self.metrics.clone())
    }

    /// Kills the collector with SIGKILL and waits for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.proc.child.kill();
        let _ = self.proc.child.wait();
    }

    /// Starts a collector whose two receivers both use `receiver_tls` (YAML lines indented
    /// for a receiver section, e.g. a `tls:` block).
    pub fn start_tls(dir: &Path, receiver_tls: &str, extra: &str) -> Collector {
        let ports = Collector::free_ports();
        Collector::launch(dir, ports, receiver_tls, extra)
    }

    /// Starts a collector on the given (gRPC, HTTP, `/metrics` address) ports; its log is
    /// `<dir>/collector.log`, appended to when restarted.
    pub fn start_on(dir: &Path, ports: (u16, u16, String), extra: &str) -> Collector {
        Collector::launch(dir, ports, "", extra)
    }

    fn launch(
        dir: &Path,
        (grpc, http, metrics): (u16, u16, String),
        receiver_tls: &str,
        extra: &str,
    ) -> Collector {
        let config = dir.join("collector.yaml");
        std::fs::write(
            &config,
            format!(
                "receivers:\n  otlp_grpc:\n    endpoint: 127.0.0.1:{grpc}\n{receiver_tls}  otlp_http:\n    endpoint: 127.0.0.1:{http}\n{receiver_tls}\
                 exporters:\n  prometheus:\n    endpoint: {metrics}\n{extra}"
            ),
        )
        .expect("writing collector.yaml");
        let proc = Proc::spawn_appending(
            "collector",
            dir,
            Command::new(bin("dozor-collector"))
                .arg("--config")
                .arg(&config),
        );
        wait_for(Duration::from_secs(20), || {
            http_get(&metrics, "/-/healthy")
                .ok()
                .filter(|(s, _)| *s == 200)
        })
        .unwrap_or_else(|| panic!("collector did not become healthy:\n{}", proc.output()));
        Collector {
            proc,
            grpc,
            http,
            metrics,
        }
    }
}

/// Starts `dozor-agent` with `config` (YAML) written to `<dir>/<name>.yaml`, logging each batch
/// it appends to its buffer (target `dozor_agent::export::ledger`) so tests know exactly what
/// it produced. Its log, `<dir>/<name>.log`, is appended to across restarts.
pub fn start_agent(dir: &Path, name: &str, config: &str) -> Proc {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, config).expect("writing agent config");
    Proc::spawn_appending(
        name,
        dir,
        Command::new(bin("dozor-agent"))
            .arg("--config")
            .arg(&path)
            .arg("--log-level")
            .arg("info,dozor_agent::export::ledger=info"),
    )
}
