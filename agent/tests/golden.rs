//! Golden tests: the whole agent (`collect --once`) run against fixture /proc and /sys trees,
//! compared with the committed exposition. Values that depend on this machine (statvfs of the
//! fixture's mount points, run durations) are masked, their series kept.
//!
//! Regenerate with `UPDATE_GOLDEN=1 cargo test -p dozor-agent --test golden`, then review the diff.

use dozor_metrics::catalogue;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Families whose values come from this machine, not the fixture.
const VOLATILE: &[&str] = &[
    "system_filesystem_usage_bytes",
    "system_filesystem_limit_bytes",
    "system_filesystem_utilization_ratio",
    "system_filesystem_inodes_usage",
    "dozor_agent_scrape_duration_seconds",
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

fn collect(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_dozor-agent"))
        .args(["collect", "--once"])
        .args(args)
        .output()
        .expect("running dozor-agent");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 output");
    assert!(
        out.status.success(),
        "collect --once failed ({}):\n{}\n{stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn mask(exposition: &str) -> String {
    let mut out = String::new();
    for line in exposition.lines() {
        let name = line.split(['{', ' ']).next().unwrap_or("");
        if !line.starts_with('#') && VOLATILE.contains(&name) {
            let (series, _) = line.rsplit_once(' ').expect("sample line has a value");
            out.push_str(series);
            out.push_str(" <volatile>\n");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn golden(name: &str) {
    let fixture = dir().join("fixtures").join(name);
    let config = dir().join("golden").join(format!("{name}.yaml"));
    let procfs = fixture.join("proc");
    let sysfs = fixture.join("sys");
    let rootfs = fixture.join("rootfs");
    let got = mask(&collect(&[
        "--config",
        config.to_str().unwrap(),
        "--path.procfs",
        procfs.to_str().unwrap(),
        "--path.sysfs",
        sysfs.to_str().unwrap(),
        "--path.rootfs",
        rootfs.to_str().unwrap(),
    ]));
    check_against_catalogue(&got);
    let path = dir().join("golden").join(format!("{name}.prom"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).expect("writing golden file");
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    if got != want {
        let diff: Vec<String> = diff_lines(&want, &got);
        panic!(
            "{name}: output differs from {} ({} lines differ; regenerate with UPDATE_GOLDEN=1 if intended):\n{}",
            path.display(),
            diff.len(),
            diff.join("\n")
        );
    }
}

fn diff_lines(want: &str, got: &str) -> Vec<String> {
    let w: BTreeSet<&str> = want.lines().collect();
    let g: BTreeSet<&str> = got.lines().collect();
    w.difference(&g)
        .map(|l| format!("- {l}"))
        .chain(g.difference(&w).map(|l| format!("+ {l}")))
        .collect()
}

/// Every emitted family is declared in the catalogue, with exactly its declared labels plus the
/// resource labels. This is the test that fails when code emits something undeclared.
fn check_against_catalogue(exposition: &str) {
    let declared: BTreeMap<String, BTreeSet<String>> = catalogue::all()
        .map(|m| {
            (
                m.prometheus_name(),
                m.prometheus_labels().into_iter().collect(),
            )
        })
        .collect();
    let resource: BTreeSet<&str> = ["job", "instance", "site", "role"].into();
    let mut problems = Vec::new();
    for line in exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, rest) = line
            .split_once('{')
            .unwrap_or((line.split(' ').next().unwrap(), ""));
        let labels: BTreeSet<String> = rest
            .split("\",")
            .filter_map(|kv| {
                kv.split_once('=')
                    .map(|(k, _)| k.trim_start_matches(',').to_string())
            })
            .filter(|k| !resource.contains(k.as_str()))
            .collect();
        if name == "target_info" {
            continue;
        }
        match declared.get(name) {
            None => problems.push(format!("undeclared metric: {line}")),
            Some(want) if *want != labels => problems.push(format!(
                "labels {labels:?} differ from declared {want:?}: {line}"
            )),
            Some(_) => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn host_cgroup_v1_hybrid() {
    golden("host-v1");
}

#[test]
fn host_cgroup_v2_unified() {
    golden("host-v2");
}

/// On the real machine too, everything the agent emits is declared.
#[test]
fn this_host_emits_only_declared_metrics() {
    check_against_catalogue(&collect(&[]));
}
