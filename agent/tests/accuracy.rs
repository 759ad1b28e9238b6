//! Accuracy of the whole agent against independent ground truth at the same moment: memory from
//! `/proc/meminfo` read here, file system figures from coreutils `stat -f` (its own statfs call).
//! Agreement within 1%, as the issue requires.

use std::collections::BTreeMap;
use std::process::Command;

/// Parses `collect --once` output into (series line without value) -> value.
fn exposition() -> BTreeMap<String, f64> {
    let out = Command::new(env!("CARGO_BIN_EXE_dozor-agent"))
        .args(["collect", "--once"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            l.rsplit_once(' ')
                .map(|(s, v)| (s.to_string(), v.parse().unwrap()))
        })
        .collect()
}

fn find(series: &BTreeMap<String, f64>, name: &str, labels: &[&str]) -> f64 {
    let hits: Vec<_> = series
        .iter()
        .filter(|(s, _)| {
            s.starts_with(&format!("{name}{{")) && labels.iter().all(|l| s.contains(l))
        })
        .collect();
    assert_eq!(hits.len(), 1, "{name} {labels:?}: {hits:?}");
    *hits[0].1
}

fn meminfo() -> BTreeMap<String, f64> {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let key = it.next()?.trim_end_matches(':').to_string();
            let kib: f64 = it.next()?.parse().ok()?;
            Some((key, kib * 1024.0))
        })
        .collect()
}

fn within_1_percent(what: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= 0.01 * want.abs().max(1.0),
        "{what}: agent says {got}, ground truth {want}"
    );
}

#[test]
fn memory_matches_proc_meminfo() {
    let before = meminfo();
    let series = exposition();
    let after = meminfo();
    let truth = |k: &str| (before[k] + after[k]) / 2.0;
    within_1_percent(
        "MemTotal",
        find(&series, "system_memory_limit_bytes", &[]),
        truth("MemTotal"),
    );
    within_1_percent(
        "MemAvailable",
        find(&series, "system_linux_memory_available_bytes", &[]),
        truth("MemAvailable"),
    );
    within_1_percent(
        "MemFree",
        find(&series, "system_memory_usage_bytes", &["state=\"free\""]),
        truth("MemFree"),
    );
    within_1_percent(
        "Cached + SReclaimable",
        find(&series, "system_memory_usage_bytes", &["state=\"cached\""]),
        truth("Cached") + truth("SReclaimable"),
    );
    within_1_percent(
        "SwapFree",
        find(&series, "system_paging_usage_bytes", &["state=\"free\""]),
        truth("SwapFree"),
    );
}

#[test]
fn root_filesystem_matches_statvfs() {
    let stat = |fmt: &str| -> Vec<f64> {
        let out = Command::new("stat")
            .args(["-f", "-c", fmt, "/"])
            .output()
            .expect("coreutils stat");
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .map(|w| w.parse().unwrap())
            .collect()
    };
    let before = stat("%S %b %f %a %c %d");
    let series = exposition();
    let after = stat("%S %b %f %a %c %d");
    let v = |i: usize| (before[i] + after[i]) / 2.0;
    let (frsize, blocks, bfree, bavail, files, ffree) = (v(0), v(1), v(2), v(3), v(4), v(5));
    let root = "mountpoint=\"/\"";
    within_1_percent(
        "size",
        find(&series, "system_filesystem_limit_bytes", &[root]),
        blocks * frsize,
    );
    within_1_percent(
        "used",
        find(
            &series,
            "system_filesystem_usage_bytes",
            &[root, "state=\"used\""],
        ),
        (blocks - bfree) * frsize,
    );
    within_1_percent(
        "free",
        find(
            &series,
            "system_filesystem_usage_bytes",
            &[root, "state=\"free\""],
        ),
        bavail * frsize,
    );
    within_1_percent(
        "inodes used",
        find(
            &series,
            "system_filesystem_inodes_usage",
            &[root, "state=\"used\""],
        ),
        files - ffree,
    );
}
