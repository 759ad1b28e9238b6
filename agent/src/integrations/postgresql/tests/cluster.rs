//! PostgreSQL clusters of a test's own: `initdb` into a temporary directory, started on a free
//! port with `pg_ctl`, stopped and deleted on drop. Replicas are `pg_basebackup -R` copies.
//! Run as root, the commands run as the `postgres` user (PostgreSQL refuses to run as root).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian installs the server binaries.
pub const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A running cluster.
pub struct Cluster {
    pub port: u16,
    pub data: PathBuf,
    /// Holds the temporary directory until the cluster is dropped.
    _dir: Option<tempfile::TempDir>,
}

/// Runs a PostgreSQL binary, as `postgres` when this process is root; panics with its output
/// when it fails.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = command(program, args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{program} {args:?} failed: {text}");
    text
}

fn command(program: &str, args: &[&str]) -> Command {
    let path = format!("{BIN}/{program}");
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", &path]);
        c
    } else {
        Command::new(&path)
    };
    cmd.args(args);
    cmd
}

/// Whether the real uid is 0 (read from procfs: the crate denies unsafe code).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// A free TCP port on loopback (free when asked; the cluster binds it right after).
pub use dozor_testkit::free_port;

/// A directory the `postgres` user may write.
fn temp_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("dozor-pg-")
        .tempdir()
        .expect("temporary directory");
    if is_root() {
        let status = Command::new("chown")
            .args(["postgres:postgres", &dir.path().display().to_string()])
            .status()
            .expect("chown");
        assert!(status.success());
    }
    dir
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.write_all(text.as_bytes()).expect("append");
}

fn prepend(path: &Path, line: &str) {
    let old = std::fs::read_to_string(path).expect("read pg_hba.conf");
    std::fs::write(path, format!("{line}\n{old}")).expect("write pg_hba.conf");
}

impl Cluster {
    /// A new primary: trust for everyone on loopback (replication included), except the roles
    /// in `password_roles`, which must give a SCRAM password; `settings` are appended to its
    /// postgresql.conf.
    pub fn primary(settings: &str, password_roles: &[&str]) -> Cluster {
        let dir = temp_dir();
        let data = dir.path().join("data");
        let d = data.display().to_string();
        run(
            "initdb",
            &[
                "-D", &d, "-U", "postgres", "-A", "trust", "-N", "-E", "UTF8",
            ],
        );
        for role in password_roles {
            prepend(
                &data.join("pg_hba.conf"),
                &format!("host all {role} 127.0.0.1/32 scram-sha-256"),
            );
        }
        let port = free_port();
        append(
            &data.join("postgresql.conf"),
            &format!(
                "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
                 wal_level = replica\nmax_wal_senders = 5\nfsync = off\nsynchronous_commit = off\n\
                 full_page_writes = off\nshared_buffers = 16MB\nmax_connections = 30\n{settings}\n",
                dir.path().display()
            ),
        );
        let c = Cluster {
            port,
            data,
            _dir: Some(dir),
        };
        c.start();
        c
    }

    /// A streaming replica of `self`, made with `pg_basebackup -R`, named `name`
    /// (`cluster_name`, hence its `application_name` on the primary).
    pub fn replica(&self, name: &str) -> Cluster {
        let dir = temp_dir();
        let data = dir.path().join("data");
        let d = data.display().to_string();
        let port = self.port.to_string();
        run(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-D",
                &d,
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ],
        );
        let port = free_port();
        // The copy carries the primary's postgresql.conf; later lines win.
        append(
            &data.join("postgresql.conf"),
            &format!(
                "\nport = {port}\nunix_socket_directories = '{}'\ncluster_name = '{name}'\nhot_standby = on\n",
                dir.path().display()
            ),
        );
        let c = Cluster {
            port,
            data,
            _dir: Some(dir),
        };
        c.start();
        c
    }

    /// `host=127.0.0.1 port=<port> user=postgres dbname=postgres`.
    pub fn dsn(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }

    /// A superuser connection.
    pub fn admin(&self) -> postgres::Client {
        postgres::Client::connect(&self.dsn(), postgres::NoTls).expect("connect to test cluster")
    }

    pub fn start(&self) {
        let d = self.data.display().to_string();
        let log = self.data.with_extension("log").display().to_string();
        run("pg_ctl", &["-D", &d, "-l", &log, "-w", "-t", "60", "start"]);
    }

    pub fn stop(&self) {
        let d = self.data.display().to_string();
        run("pg_ctl", &["-D", &d, "-m", "fast", "-w", "stop"]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let d = self.data.display().to_string();
        // Already stopped is fine: ignore the status.
        let _ = command("pg_ctl", &["-D", &d, "-m", "immediate", "-w", "stop"]).output();
    }
}
