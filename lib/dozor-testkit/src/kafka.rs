//! A throwaway Kafka-protocol broker for tests: `noida-db` (the PyPI wheel, installed by
//! `scripts/peers/kafka.sh`) with only its Kafka service, on a free port and a data directory of
//! its own, killed on drop. noida-db is an emulator, not Apache Kafka: its end offsets, committed
//! offsets, ListGroups and DescribeGroups were checked right on these machines (2026-12); it
//! never expires a member that died without leaving, so test consumers must close cleanly.
//!
//! Records are produced and offsets committed with kafka-python, a client nobody here wrote,
//! through [`python`].

use crate::proc::{Proc, free_port, tool, wait_for};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// How to get the broker and the client when they are missing.
pub const INSTALL: &str = "pip install noida-db kafka-python (scripts/peers/kafka.sh does)";

/// A running noida-db with only Kafka enabled.
pub struct Broker {
    proc: Proc,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Broker {
    /// Starts one on a free port and waits until it accepts connections. `--only kafka` is
    /// mandatory: noida-db's other services default to the ports of the real PostgreSQL,
    /// MariaDB and Redis.
    pub fn start() -> Broker {
        Broker::start_on(free_port())
    }

    /// [`Broker::start`] on `port`.
    pub fn start_on(port: u16) -> Broker {
        let exe = binary();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let proc = Proc::spawn(
            "noida-db",
            dir.path(),
            Command::new(exe)
                .arg("start")
                .args(["--only", "kafka", "--kafka-port"])
                .arg(port.to_string())
                .arg("--data-dir")
                .arg(dir.path().join("data")),
        );
        let up = wait_for(Duration::from_secs(20), || {
            TcpStream::connect(("127.0.0.1", port)).ok()
        });
        assert!(
            up.is_some(),
            "noida-db did not accept connections on 127.0.0.1:{port} within 20 s; its log:\n{}",
            proc.output()
        );
        Broker {
            proc,
            port,
            _dir: dir,
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its process id (for CPU figures).
    pub fn pid(&self) -> u32 {
        self.proc.child.id()
    }

    /// Runs a kafka-python `script` with `B` bound to the bootstrap address and the usual
    /// imports done; panics with its output when it fails, returns its stdout.
    pub fn python(&self, script: &str) -> String {
        python(&self.bootstrap(), script)
    }
}

/// The static binary inside the wheel. The `noida-db` on PATH is a Python launcher that runs it
/// as a child: killing the launcher would leave the broker running, so tests run the binary.
fn binary() -> PathBuf {
    let dir = python_out("import noida_db, os; print(os.path.dirname(noida_db.__file__))");
    let exe = PathBuf::from(dir.trim()).join("noida-db");
    assert!(exe.is_file(), "{} not found: {INSTALL}", exe.display());
    exe
}

/// The stdout of a Python snippet, or a failure naming [`INSTALL`].
fn python_out(code: &str) -> String {
    let out = Command::new(tool("python3", "python3"))
        .args(["-c", code])
        .output()
        .unwrap_or_else(|e| panic!("python3: {e}"));
    assert!(
        out.status.success(),
        "{code}: {}; {INSTALL}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The prelude every [`python`] script gets.
const PRELUDE: &str = "import sys, time\n\
from kafka import KafkaAdminClient, KafkaProducer, KafkaConsumer, TopicPartition\n\
from kafka.admin import NewTopic\n\
from kafka.structs import OffsetAndMetadata\n\
B = sys.argv[1]\n";

/// Runs a kafka-python `script` against `bootstrap` (see [`Broker::python`]).
pub fn python(bootstrap: &str, script: &str) -> String {
    let py = tool("python3", "python3");
    let out = Command::new(py)
        .arg("-c")
        .arg(format!("{PRELUDE}{script}"))
        .arg(bootstrap)
        .output()
        .unwrap_or_else(|e| panic!("python3: {e}"));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "kafka-python script failed ({INSTALL} if kafka is missing):\n{script}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout.into_owned()
}
