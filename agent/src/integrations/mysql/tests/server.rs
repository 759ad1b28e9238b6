//! Throw-away MariaDB servers for tests: `mariadb-install-db` into a temporary directory and a
//! `mariadbd` on a free loopback port, stopped and deleted on drop, so tests that need exact
//! counters or a replica never disturb the shared server on :3306.

use dozor_testkit::free_port;
use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server with an empty root password on 127.0.0.1.
pub struct Server {
    /// Its TCP port.
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Server {
    /// Installs and starts a server with `server_id` and a binary log.
    pub fn start(server_id: u32) -> Server {
        Server::start_with(server_id, &[])
    }

    /// As [`Server::start`], with more server options (`--ssl-cert=...`).
    pub fn start_with(server_id: u32, options: &[String]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        install(&data);
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new("mariadbd")
                .args(["--no-defaults", "--user=root", "--bind-address=127.0.0.1"])
                .arg(format!("--datadir={}", data.display()))
                .arg(format!("--port={port}"))
                .arg(format!("--socket={}", dir.path().join("sock").display()))
                .arg(format!("--pid-file={}", dir.path().join("pid").display()))
                .arg(format!(
                    "--log-error={}",
                    dir.path().join("error.log").display()
                ))
                .arg(format!("--log-bin={}", dir.path().join("bin").display()))
                .arg(format!(
                    "--relay-log={}",
                    dir.path().join("relay").display()
                ))
                .arg(format!("--server-id={server_id}"))
                .args(["--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M"])
                .arg("--skip-name-resolve")
                .args(options)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("mariadbd: {e}: `apt-get install mariadb-server`"));
            if wait_ready(port, &mut child) {
                return Server { port, child, dir };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "mariadbd did not start: see {}",
            dir.path().join("error.log").display()
        );
    }

    /// `mysql://root@127.0.0.1:<port>/<database>`.
    pub fn dsn(&self, database: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{database}", self.port)
    }

    /// A root connection.
    pub fn connect(&self) -> Conn {
        connect(self.port).unwrap()
    }

    /// Runs statements as root, panicking on errors.
    pub fn sql(&self, statements: &str) {
        self.connect()
            .query_drop(statements)
            .unwrap_or_else(|e| panic!("{statements}: {e}"));
    }

    /// Where its files are.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `mariadb-install-db` into `data`, once more after a failure (seen once under load,
/// not reproduced: the first attempt's output is printed for the next time).
fn install(data: &Path) {
    for attempt in 1..=2 {
        let out = Command::new("mariadb-install-db")
            .args([
                "--no-defaults",
                "--user=root",
                "--auth-root-authentication-method=normal",
            ])
            .arg(format!("--datadir={}", data.display()))
            .args(["--skip-test-db", "--innodb-log-file-size=8M"])
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "mariadb-install-db: {e}: install MariaDB with `apt-get install mariadb-server`"
                )
            });
        if out.status.success() {
            return;
        }
        let output = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            attempt < 2,
            "mariadb-install-db failed in {}: {output}",
            data.display()
        );
        eprintln!(
            "mariadb-install-db failed in {}, trying again: {output}",
            data.display()
        );
        let _ = std::fs::remove_dir_all(data);
    }
}

fn connect(port: u16) -> mysql::Result<Conn> {
    Conn::new(
        OptsBuilder::new()
            .ip_or_hostname(Some("127.0.0.1"))
            .tcp_port(port)
            .user(Some("root"))
            .prefer_socket(false)
            // As the agent does: without it, connecting runs `SELECT @@max_allowed_packet`.
            .max_allowed_packet(Some(16 << 20)),
    )
}

/// Polls until the server answers (true) or exits or 30 s pass (false).
fn wait_ready(port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if connect(port).is_ok() {
            return true;
        }
        if child.try_wait().ok().flatten().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Polls `f` every 50 ms until it returns `Some`, for at most `limit`.
pub fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
