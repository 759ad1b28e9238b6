//! `dozor-agent flare`: from a configuration full of secrets (DSN passwords, bearer tokens,
//! header values, basic auth, `${VAR}` values from the environment) and a log that repeats
//! them, the archive holds none of them in any file; every part is in it or listed in its
//! MANIFEST with the reason; and with no agent running it still finishes, in bounded time.

use dozor_testkit::free_port;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Every secret the configuration, its environment and the log hold.
const SECRETS: [&str; 11] = [
    "PgPass-s3cr3t-A",
    "MyPass-s3cr3t-B",
    "Tok-s3cr3t-C-env",
    "KvPass-s3cr3t-D",
    "RmqPass-s3cr3t-E",
    "UrlPass-s3cr3t-F",
    "HdrVal-s3cr3t-G",
    "Bearer-s3cr3t-H",
    "EnvTok-s3cr3t-I",
    "Basic-s3cr3t-J",
    "Default-s3cr3t-K",
];

const PARTS: [&str; 6] = ["config", "status", "diagnose", "logs", "buffer", "host"];

fn secret_config(dir: &Path) -> String {
    format!(
        r#"resource:
  instance_id: flare-agent
exporters:
  otlp:
    endpoints: ["http://127.0.0.1:{dead}"]
    buffer:
      path: {buffer}
    auth:
      token_env: DOZOR_FLARE_TOKEN
integrations:
  postgresql:
    enabled: true
    instances:
      - name: shop
        dsn: "postgres://dozor:PgPass-s3cr3t-A@127.0.0.1:5432/postgres"
        statements:
          enabled: false
      - name: mes
        dsn: "host=127.0.0.1 user=root password=KvPass-s3cr3t-D dbname=postgres"
        statements: {{enabled: false}}
  mysql:
    enabled: true
    instances:
      - name: crm
        dsn: "mysql://root:${{FLARE_MY_PASS}}@127.0.0.1:3306/mysql"
  rabbitmq:
    enabled: true
    instances:
      - name: orders
        management_url: http://127.0.0.1:15672
        username: guest
        password: "${{FLARE_RMQ_PASS:-Default-s3cr3t-K}}"
      - name: events
        management_url: http://127.0.0.1:15672
        username: guest
        password: RmqPass-s3cr3t-E
  probes:
    enabled: true
    targets:
      - name: api
        http:
          url: "https://apiuser:UrlPass-s3cr3t-F@127.0.0.1:1/x"
          headers: {{X-Api-Key: HdrVal-s3cr3t-G}}
          bearer_token: "${{FLARE_API_TOKEN}}"
      - name: plain
        http:
          url: http://127.0.0.1:1/
          headers:
            Authorization: "Bearer Bearer-s3cr3t-H"
      - name: basic
        http:
          url: http://127.0.0.1:1/
          basic_auth: {{username: bob, password: Basic-s3cr3t-J}}
"#,
        dead = free_port(),
        buffer = dir.join("buffer").display()
    )
}

/// Runs `flare`, killing it if it outlives `limit`; returns stdout and how long it took.
fn flare(dir: &Path, config: &Path, extra: &[&str], limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dozor-agent"))
        .args(["flare", "--config"])
        .arg(config)
        .args(extra)
        .current_dir(dir)
        .env("DOZOR_FLARE_TOKEN", "Tok-s3cr3t-C-env")
        .env("FLARE_MY_PASS", "MyPass-s3cr3t-B")
        .env("FLARE_API_TOKEN", "EnvTok-s3cr3t-I")
        .env_remove("FLARE_RMQ_PASS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                status.success(),
                "{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            return (stdout, started.elapsed());
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("flare still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Unpacks the archive named on the first line of `stdout` into `<dir>/unpacked`.
fn unpack(dir: &Path, stdout: &str) -> PathBuf {
    let line = stdout
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no output: {stdout:?}"));
    let (path, size) = line.rsplit_once(" (").unwrap();
    assert!(size.ends_with(" KiB)"), "{line}");
    let archive = dir.join(path);
    assert!(archive.is_file(), "{}", archive.display());
    let out_dir = dir.join("unpacked");
    std::fs::create_dir_all(&out_dir).unwrap();
    let status = Command::new("tar")
        .arg("xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&out_dir)
        .status()
        .unwrap();
    assert!(status.success());
    let top: Vec<_> = std::fs::read_dir(&out_dir).unwrap().flatten().collect();
    assert_eq!(top.len(), 1, "one directory in the archive");
    top[0].path()
}

fn files(root: &Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(root)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// Every part is in the archive or in the MANIFEST as missing, with a reason.
fn assert_parts_accounted(manifest: &str) {
    for part in PARTS {
        let ok = manifest
            .lines()
            .any(|l| l.starts_with("ok ") && l.split_whitespace().nth(1) == Some(part));
        let missing = manifest
            .lines()
            .find(|l| l.starts_with(&format!("missing  {part}: ")))
            .is_some_and(|l| l.len() > format!("missing  {part}: ").len());
        assert!(
            ok || missing,
            "part {part} is neither in nor accounted for:\n{manifest}"
        );
    }
}

#[test]
fn no_secret_reaches_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.yaml");
    std::fs::write(&config, secret_config(dir.path())).unwrap();
    // The agent's own check accepts this configuration: the flare scrubs a real one.
    let check = Command::new(env!("CARGO_BIN_EXE_dozor-agent"))
        .args(["check-config", "--config"])
        .arg(&config)
        .env("DOZOR_FLARE_TOKEN", "Tok-s3cr3t-C-env")
        .env("FLARE_MY_PASS", "MyPass-s3cr3t-B")
        .env("FLARE_API_TOKEN", "EnvTok-s3cr3t-I")
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // A log that repeats them, as a careless line might.
    let log = dir.path().join("agent.log");
    let mut lines: Vec<String> = (0..50)
        .map(|i| format!("2026-12-07T09:00:{i:02}Z INFO Batch appended. seq={i}"))
        .collect();
    for s in SECRETS {
        lines.push(format!(
            "2026-12-07T09:01:00Z WARN Export failed. detail=\"{s}\""
        ));
    }
    lines.push("2026-12-07T09:01:01Z WARN connecting to postgres://dozor:PgPass-s3cr3t-A@db/x with Authorization: Bearer Bearer-s3cr3t-H".into());
    std::fs::write(&log, lines.join("\n")).unwrap();
    // Buffer files whose contents must not be copied.
    std::fs::create_dir_all(dir.path().join("buffer")).unwrap();
    std::fs::write(
        dir.path().join("buffer/00000000000000000001.seg"),
        "SEGMENT-CONTENTS-xyz",
    )
    .unwrap();

    let log_arg = log.display().to_string();
    let (stdout, _) = flare(
        dir.path(),
        &config,
        &[
            "--log",
            &log_arg,
            "--lines",
            "100",
            "--output",
            "out.tar.gz",
        ],
        Duration::from_secs(60),
    );
    let root = unpack(dir.path(), &stdout);
    let files = files(&root);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "MANIFEST",
        "config.yaml",
        "diagnose.txt",
        "diagnose.json",
        "agent.log",
        "buffer.txt",
        "host.txt",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for (name, data) in &files {
        let text = String::from_utf8_lossy(data);
        for s in SECRETS {
            assert!(!text.contains(s), "{s} found in {name}:\n{text}");
        }
        assert!(
            !text.contains("SEGMENT-CONTENTS"),
            "buffer contents in {name}"
        );
    }
    let get = |n: &str| {
        String::from_utf8_lossy(&files.iter().find(|(f, _)| f == n).unwrap().1).into_owned()
    };
    let manifest = get("MANIFEST");
    assert_parts_accounted(&manifest);
    // What is not secret stays, so the flare is still useful.
    let config_text = get("config.yaml");
    for kept in [
        "postgres://dozor:",
        "127.0.0.1:5432",
        "${FLARE_MY_PASS}",
        "${FLARE_API_TOKEN}",
        "X-Api-Key",
        "DOZOR_FLARE_TOKEN",
        "bob",
    ] {
        assert!(
            config_text.contains(kept),
            "{kept} missing from config.yaml:\n{config_text}"
        );
    }
    let log_text = get("agent.log");
    // 50 + 11 + 1 lines written, all within --lines 100.
    assert_eq!(log_text.lines().count(), 62, "{log_text}");
    assert!(log_text.contains("Batch appended. seq=49"), "{log_text}");
    assert!(
        get("buffer.txt").contains("00000000000000000001.seg  20 bytes"),
        "{}",
        get("buffer.txt")
    );
    assert!(
        get("diagnose.txt").contains("FAIL collector.reach"),
        "{}",
        get("diagnose.txt")
    );
    assert!(get("host.txt").contains("cpus: "), "{}", get("host.txt"));
}

#[test]
fn without_a_running_agent_the_flare_finishes_and_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.yaml");
    std::fs::write(
        &config,
        format!(
            "admin:\n  listen: 127.0.0.1:{}\nexporters:\n  otlp:\n    endpoints: [\"http://127.0.0.1:{}\"]\n    buffer:\n      path: {}\n",
            free_port(),
            free_port(),
            dir.path().join("buffer").display()
        ),
    )
    .unwrap();
    // No --log: journalctl if this machine has it; either way the part is accounted for.
    let (stdout, took) = flare(
        dir.path(),
        &config,
        &["--output", "f.tar.gz"],
        Duration::from_secs(60),
    );
    // Each part has a timeout (the longest, the diagnosis, 12 s): the whole stays under it
    // plus start-up, whatever is stuck or absent.
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let root = unpack(dir.path(), &stdout);
    let manifest =
        String::from_utf8_lossy(&std::fs::read(root.join("MANIFEST")).unwrap()).into_owned();
    assert_parts_accounted(&manifest);
    assert!(
        manifest
            .lines()
            .any(|l| l.starts_with("missing  status: no dozor-agent answered at http://127.0.0.1:")),
        "{manifest}"
    );
}

#[test]
fn a_running_agent_s_status_is_in_the_flare_and_a_stuck_one_is_marked_missing() {
    let dir = tempfile::tempdir().unwrap();
    let admin = free_port();
    let config = format!(
        "admin:\n  listen: 127.0.0.1:{admin}\nexporters:\n  otlp:\n    endpoints: [\"http://127.0.0.1:{}\"]\n    buffer:\n      path: {}\n",
        free_port(),
        dir.path().join("buffer").display()
    );
    let _agent = dozor_testkit::start_agent(dir.path(), "agent", &config);
    let addr = format!("127.0.0.1:{admin}");
    dozor_testkit::wait_for(Duration::from_secs(30), || {
        dozor_testkit::http_get(&addr, "/v1/health")
            .ok()
            .filter(|(s, _)| *s == 200)
    })
    .expect("the agent's admin endpoint never answered");
    let path = dir.path().join("agent.yaml");
    let (stdout, _) = flare(
        dir.path(),
        &path,
        &["--output", "running.tar.gz"],
        Duration::from_secs(60),
    );
    let root = unpack(dir.path(), &stdout);
    let status = std::fs::read_to_string(root.join("status.json")).expect("status.json");
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert!(
        v["version"].is_string() && v["uptime_seconds"].is_number(),
        "{status}"
    );
    std::fs::remove_dir_all(dir.path().join("unpacked")).unwrap();

    // An admin endpoint that accepts and never answers: the flare does not wait for it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stuck = format!("http://{}", listener.local_addr().unwrap());
    let _held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in listener.incoming().flatten() {
            conns.push(c);
        }
    });
    let (stdout, _) = flare(
        dir.path(),
        &path,
        &["--admin", &stuck, "--output", "stuck.tar.gz"],
        Duration::from_secs(60),
    );
    let root = unpack(dir.path(), &stdout);
    let manifest = std::fs::read_to_string(root.join("MANIFEST")).unwrap();
    assert_parts_accounted(&manifest);
    assert!(
        manifest
            .lines()
            .any(|l| l.starts_with("missing  status: ") && l.contains("did not answer within")),
        "{manifest}"
    );
}
