//! Helpers for end-to-end tests: start the real binaries and peers on free loopback ports, talk
//! HTTP to them, and wait for conditions with a deadline (never a bare sleep).

pub mod delivery;
pub mod elasticsearch;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound once and released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// Path of a workspace binary built by `cargo build --workspace --bins`.
pub fn bin(name: &str) -> PathBuf {
    // The test binary runs from `<target>/debug/deps`; the workspace's binaries are in
    // `<target>/debug`, whatever `CARGO_TARGET_DIR` says.
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe.parent().and_then(Path::parent).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug"),
        Path::to_path_buf,
    );
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not found: build the binaries first with `cargo build --workspace --bins` (scripts/test does)",
        path.display()
    );
    path
}

/// Path of an external tool, or a failure that says how to install it.
pub fn tool(name: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!("{name} not found on PATH: apt-get install {package} (scripts/test installs it)")
    })
}

/// A child process killed (SIGKILL) when dropped; its output goes to `<dir>/<name>.log`.
pub struct Proc {
    /// The child.
    pub child: Child,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

impl Proc {
    /// Spawns `cmd` with output to `<dir>/<name>.log`.
    pub fn spawn(name: &str, dir: &Path, cmd: &mut Command) -> Proc {
        let _ = std::fs::remove_file(dir.join(format!("{name}.log")));
        Proc::spawn_appending(name, dir, cmd)
    }

    /// Spawns `cmd` with output appended to `<dir>/<name>.log` (for restarts).
    pub fn spawn_appending(name: &str, dir: &Path, cmd: &mut Command) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("creating log");
        let err = out.try_clone().expect("cloning log handle");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Proc { child, log }
    }

    /// Sends SIGTERM and waits up to `timeout` for the process to exit; returns its exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        self.sigterm();
        wait_for(timeout, || self.child.try_wait().ok().flatten())
    }

    /// Sends SIGTERM without waiting (to stop several processes at once).
    pub fn sigterm(&self) {
        #[allow(unsafe_code)]
        // SAFETY: kill(2) with a pid we own and a valid signal number has no memory effects.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
    }

    /// Sends SIGKILL and waits for the process to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The process's log so far (for assertion messages).
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` every 200 ms until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A plain HTTP/1.0 GET; returns the status code and body.
pub fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

/// Percent-encodes a query parameter value.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs an instant PromQL query against a Prometheus at `addr`; returns the parsed response.
pub fn prom_query(addr: &str, expr: &str) -> serde_json::Value {
    let (status, body) = http_get(addr, &format!("/api/v1/query?query={}", url_encode(expr)))
        .expect("querying Prometheus");
    serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("Prometheus answered {status} with non-JSON ({e}): {body}"))
}

/// The `data.result` array of a successful instant query, or a panic naming the query's error.
pub fn prom_result(addr: &str, expr: &str) -> Vec<serde_json::Value> {
    let v = prom_query(addr, expr);
    assert_eq!(v["status"], "success", "query {expr} failed: {v}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

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
        let ports = (
            free_port(),
            free_port(),
            format!("127.0.0.1:{}", free_port()),
        );
        Collector::start_on(dir, ports, extra)
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
        let ports = (
            free_port(),
            free_port(),
            format!("127.0.0.1:{}", free_port()),
        );
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
