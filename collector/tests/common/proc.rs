//! The `dozor-collector` binary as a child process: started on ephemeral ports, its log lines
//! collected, stopped with SIGTERM or SIGKILL.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_dozor-collector");

/// A running collector process.
pub struct Collector {
    child: Child,
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub prometheus: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Collector {
    /// Starts the binary with every endpoint on 127.0.0.1:0 and `rest` (more top-level YAML
    /// sections) appended to its configuration file in `dir`.
    pub fn start(dir: &Path, rest: &str) -> Collector {
        let config = dir.join("collector.yaml");
        std::fs::write(
            &config,
            format!(
                "receivers:\n  otlp_grpc: {{endpoint: 127.0.0.1:0}}\n  otlp_http: {{endpoint: 127.0.0.1:0}}\n\
                 exporters:\n  prometheus: {{endpoint: 127.0.0.1:0}}\n{rest}"
            ),
        )
        .unwrap();
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .env("DOZOR_LOG_LEVEL", "info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut started = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line.clone());
                if !started && line.contains("Collector started.") {
                    started = true;
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(30)).is_err() {
            let _ = child.kill();
            panic!(
                "collector did not start:\n{}",
                log.lock().unwrap().join("\n")
            );
        }
        let addr = |what: &str| -> SocketAddr {
            let lines = log.lock().unwrap();
            let line = lines.iter().find(|l| l.contains(what)).unwrap();
            line.split("address=")
                .nth(1)
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        };
        Collector {
            grpc: addr("OTLP/gRPC receiver listening."),
            http: addr("OTLP/HTTP receiver listening."),
            prometheus: addr("Prometheus exporter listening."),
            child,
            log,
        }
    }

    /// Every log line so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits (up to 20 s) until a log line contains `needle`; false if none did.
    pub fn wait_for_log(&self, needle: &str) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if self.log().iter().any(|l| l.contains(needle)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Waits (up to 20 s) until `n` log lines contain `needle`; false if fewer did.
    pub fn wait_for_log_count(&self, needle: &str, n: usize) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if self.log().iter().filter(|l| l.contains(needle)).count() >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Sends a signal (`HUP`, `TERM`, ...) with kill(1).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Resident memory of the process, bytes.
    pub fn rss(&self) -> u64 {
        let statm = std::fs::read_to_string(format!("/proc/{}/statm", self.child.id())).unwrap();
        statm
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
            * 4096
    }

    /// SIGKILL: the process gets no chance to flush or compact anything.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then waits for the exit code.
    pub fn terminate(mut self) -> Option<i32> {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
