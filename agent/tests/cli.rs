//! The agent's command line: `check-config` on good and bad files, exit codes, and the shipped
//! example configs.

use std::path::Path;
use std::process::{Command, Output};

fn agent(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dozor-agent"));
    cmd.args(args)
        .env_remove("DOZOR_SITE")
        .env_remove("DOZOR_COLLECTOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("running dozor-agent")
}

#[test]
fn bad_config_lists_every_problem_with_location_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.yaml");
    std::fs::write(
        &path,
        "agent:\n  interval: 15x\n  timeot: 5s\nexporters:\n  otlp:\n    endpoints: [\"${DOZOR_TEST_UNSET_COLLECTOR:?set the collector address}\"]\n",
    )
    .unwrap();
    let out = agent(&["check-config", "--config", path.to_str().unwrap()], &[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = path.display().to_string();
    for want in [
        format!("{file}:2:13: agent.interval: invalid duration \"15x\""),
        format!("{file}:3:3: agent.timeot: unknown key \"timeot\""),
        format!("{file}:6:18: exporters.otlp.endpoints[0]: set the collector address"),
    ] {
        assert!(stderr.contains(&want), "missing {want:?} in:\n{stderr}");
    }
}

#[test]
fn semantic_errors_are_reported_together() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.yaml");
    std::fs::write(
        &path,
        "agent:\n  interval: 0s\nexporters:\n  otlp:\n    endpoints: [\"127.0.0.1:4317\"]\n",
    )
    .unwrap();
    let out = agent(&["check-config", "--config", path.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(":2:3: agent.interval: must be greater than 0s"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "exporters.otlp.endpoints[0]: invalid endpoint \"127.0.0.1:4317\": missing scheme"
        ),
        "{stderr}"
    );
}

#[test]
fn missing_config_file_is_a_config_error() {
    let out = agent(
        &["check-config", "--config", "/nonexistent/agent.yaml"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/agent.yaml"));
}

#[test]
fn shipped_examples_are_valid() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        checked += 1;
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let out = agent(&["check-config", "--config", path.to_str().unwrap()], &[]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        checked >= 4,
        "only {checked} examples found in {}",
        examples.display()
    );
}

#[test]
fn collect_once_json_uses_opentelemetry_names() {
    let out = agent(&["collect", "--once", "--format", "json"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert!(
        first["name"].as_str().is_some_and(|n| n.contains('.')),
        "{first}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("\"name\":\"system.cpu.time\"")),
        "no system.cpu.time"
    );
}
