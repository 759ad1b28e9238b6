//! Following a log through a writer in nginx's format (`nginx_combined`): rotation by rename
//! and by copytruncate, a new file under a known inode, unfinished, over-long and bad lines,
//! bounded reads and restarts. The truth is what the writer wrote.

use super::{Counts, add, assert_counts, collect, durations, instance, own, start};
use crate::integrations::access_log::InstanceConfig;
use crate::integrations::access_log::config::FormatConfig;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes requests in nginx's `combined` + `$request_time` format and keeps the truth.
struct Writer {
    want: Counts,
    lines: u64,
}

impl Writer {
    fn new() -> Writer {
        Writer {
            want: Counts::new(),
            lines: 0,
        }
    }

    /// Request `i`: one of five routes and statuses, a duration in whole milliseconds.
    fn line(&mut self, i: u64) -> String {
        let (method, target, route, status) = match i % 5 {
            0 => ("GET", "/health".to_string(), "/health", 200),
            1 => ("GET", format!("/orders/{i}"), "/orders/{id}", 200),
            2 => (
                "POST",
                format!("/orders/{i}/items"),
                "/orders/{id}/items",
                201,
            ),
            3 => ("GET", format!("/missing/{i}?q=1"), "/missing/{id}", 404),
            _ => ("GET", "/error".to_string(), "/error", 503),
        };
        let ms = (i % 13) * 7;
        let e = self
            .want
            .entry((method.into(), route.into(), status))
            .or_default();
        e.0 += 1;
        e.1 += ms as f64 / 1000.0;
        self.lines += 1;
        format!(
            "10.0.0.{} - - [07/Dec/2026:03:18:11 +0000] \"{method} {target} HTTP/1.1\" {status} {} \"-\" \"writer/1\" {}.{:03}\n",
            i % 250,
            i * 3,
            ms / 1000,
            ms % 1000
        )
    }

    fn write(&mut self, to: &mut File, range: std::ops::Range<u64>) {
        let text: String = range.map(|i| self.line(i)).collect();
        to.write_all(text.as_bytes()).unwrap();
    }
}

fn append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

fn config(name: &str, log: &Path) -> InstanceConfig {
    let mut c = instance(name, log, FormatConfig::NginxCombined);
    c.routes.patterns = vec![
        "/orders/{id}".into(),
        "/orders/{id}/items".into(),
        "/missing/{id}".into(),
    ];
    c
}

fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let state = dir.path().join("state");
    (dir, log, state)
}

fn rotated(log: &Path) -> PathBuf {
    log.with_extension("log.1")
}

#[test]
fn a_renamed_log_is_read_to_its_end_then_the_new_one_from_its_start() {
    let (_dir, log, state) = setup();
    let mut w = Writer::new();
    let mut f = append(&log);
    w.write(&mut f, 0..100);
    let mut a = start(&config("web", &log), &state);
    assert_eq!(
        own(&collect(&mut a), "dozor.access_log.lines.parsed", &[]),
        100.0
    );
    w.write(&mut f, 100..150);
    std::fs::rename(&log, rotated(&log)).unwrap();
    // The server writes on into the renamed file until it reopens its log.
    w.write(&mut f, 150..170);
    let mut g = append(&log);
    w.write(&mut g, 170..200);
    collect(&mut a);
    w.write(&mut g, 200..210);
    // A worker that has not reopened yet still writes into the renamed file.
    w.write(&mut f, 210..215);
    let s = collect(&mut a);
    assert_counts(&durations(&s), &w.want, 1e-9);
    assert_eq!(own(&s, "dozor.access_log.lines.parsed", &[]), 215.0);
    assert_eq!(own(&s, "dozor.access_log.rotations", &["rename"]), 1.0);
    assert_eq!(own(&s, "dozor.access_log.rotations", &["truncate"]), 0.0);
    assert_eq!(own(&s, "dozor.access_log.behind", &[]), 0.0);
    for why in ["format", "truncated", "too_long"] {
        assert_eq!(
            own(&s, "dozor.access_log.lines.rejected", &[why]),
            0.0,
            "{why}"
        );
    }
}

#[test]
fn copytruncate_reads_the_rest_of_the_copy_then_the_file_from_zero() {
    let (_dir, log, state) = setup();
    let mut w = Writer::new();
    let mut f = append(&log);
    w.write(&mut f, 0..100);
    let mut a = start(&config("web", &log), &state);
    collect(&mut a);
    w.write(&mut f, 100..120);
    std::fs::copy(&log, rotated(&log)).unwrap();
    f.set_len(0).unwrap();
    w.write(&mut f, 120..130);
    collect(&mut a);
    // A second truncation, where the new content outgrows the old position before the
    // collection: only the changed first bytes tell.
    std::fs::copy(&log, rotated(&log)).unwrap();
    f.set_len(0).unwrap();
    w.write(&mut f, 1000..1100);
    let s = collect(&mut a);
    assert_counts(&durations(&s), &w.want, 1e-9);
    assert_eq!(
        own(&s, "dozor.access_log.lines.parsed", &[]),
        w.lines as f64
    );
    assert_eq!(own(&s, "dozor.access_log.rotations", &["truncate"]), 2.0);
    assert_eq!(own(&s, "dozor.access_log.rotations", &["rename"]), 0.0);
}

#[test]
fn a_new_file_under_the_saved_inode_is_read_from_its_start() {
    let (_dir, log, state) = setup();
    let mut w = Writer::new();
    let mut f = append(&log);
    w.write(&mut f, 0..50);
    let mut a = start(&config("web", &log), &state);
    let first = durations(&collect(&mut a));
    drop(a);
    // While the agent is down the file is replaced by another that the file system gives the
    // same inode, and that has grown past the saved offset: rewriting the inode in place is
    // exactly what the agent then sees (same device and inode, other first bytes).
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&log).unwrap());
    f.set_len(0).unwrap();
    let mut fresh = Writer::new();
    fresh.write(&mut f, 500..600);
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&log).unwrap()),
        ino
    );
    let mut b = start(&config("web", &log), &state);
    let s = collect(&mut b);
    assert_counts(&first, &w.want, 1e-9);
    assert_counts(&durations(&s), &fresh.want, 1e-9);
    assert_eq!(own(&s, "dozor.access_log.rotations", &["replaced"]), 1.0);
    drop(b);
    // Again, with a new file shorter than the fingerprinted start.
    f.set_len(0).unwrap();
    let mut short = Writer::new();
    short.write(&mut f, 7..8);
    assert!(std::fs::metadata(&log).unwrap().len() < 256);
    let mut c = start(&config("web", &log), &state);
    assert_counts(&durations(&collect(&mut c)), &short.want, 1e-9);
}

#[test]
fn a_log_created_after_the_start_is_read_from_its_first_line() {
    let (_dir, log, state) = setup();
    let mut c = config("web", &log);
    c.read_from = crate::integrations::access_log::tail::ReadFrom::End;
    let mut a = start(&c, &state);
    assert!(durations(&collect(&mut a)).is_empty());
    let mut w = Writer::new();
    w.write(&mut append(&log), 0..30);
    assert_counts(&durations(&collect(&mut a)), &w.want, 1e-9);
}

#[test]
fn unfinished_long_and_bad_lines() {
    let (_dir, log, state) = setup();
    let mut w = Writer::new();
    let mut f = append(&log);
    let mut c = config("web", &log);
    c.max_line_bytes = 256;
    let mut a = start(&c, &state);
    w.write(&mut f, 0..3);
    let half = w.line(3);
    f.write_all(&half.as_bytes()[..40]).unwrap();
    let s = collect(&mut a);
    assert_eq!(own(&s, "dozor.access_log.lines.parsed", &[]), 3.0);
    f.write_all(&half.as_bytes()[40..]).unwrap();
    // A long line, its first part seen before its newline.
    f.write_all(&[b'x'; 300]).unwrap();
    collect(&mut a);
    f.write_all(&[b'y'; 100_000]).unwrap();
    f.write_all(b"\n").unwrap();
    f.write_all(format!("{}\n", "z".repeat(257)).as_bytes())
        .unwrap();
    f.write_all(format!("{}\n", "z".repeat(256)).as_bytes())
        .unwrap();
    let bad = w.line(4).replace(" 503 ", " 5033 ");
    w.want
        .get_mut(&("GET".into(), "/error".into(), 503))
        .unwrap()
        .0 -= 1;
    w.want.remove(&("GET".into(), "/error".into(), 503));
    f.write_all(bad.as_bytes()).unwrap();
    f.write_all(b"{\"json\": true}\n\r\n").unwrap();
    w.write(&mut f, 5..10);
    let s = collect(&mut a);
    let mut want = w.want.clone();
    want.retain(|_, v| v.0 > 0);
    assert_counts(&durations(&s), &want, 1e-9);
    assert_eq!(own(&s, "dozor.access_log.lines.parsed", &[]), 9.0);
    for (why, n) in [
        ("too_long", 2.0),
        ("format", 3.0),
        ("status", 1.0),
        ("truncated", 0.0),
    ] {
        assert_eq!(
            own(&s, "dozor.access_log.lines.rejected", &[why]),
            n,
            "{why}"
        );
    }
}

#[test]
fn a_restart_goes_on_from_the_saved_position_even_through_a_rotation() {
    let (_dir, log, state) = setup();
    let mut w = Writer::new();
    let mut f = append(&log);
    w.write(&mut f, 0..2000);
    let mut c = config("web", &log);
    c.max_bytes_per_collect = 64 << 10;
    let mut got = Counts::new();
    let mut a = start(&c, &state);
    let s = collect(&mut a);
    let behind = own(&s, "dozor.access_log.behind", &[]);
    let size = std::fs::metadata(&log).unwrap().len() as f64;
    assert!(
        behind > 0.0 && behind < size - 60_000.0,
        "{behind} of {size}"
    );
    add(&mut got, &durations(&s));
    drop(a);
    // Down: the log is rotated by rename and the new one gets lines.
    std::fs::rename(&log, rotated(&log)).unwrap();
    w.write(&mut f, 2000..2100);
    let mut g = append(&log);
    w.write(&mut g, 2100..2200);
    let mut b = start(&c, &state);
    let mut last = Vec::new();
    for _ in 0..20 {
        last = collect(&mut b);
        if own(&last, "dozor.access_log.behind", &[]) == 0.0 {
            break;
        }
    }
    add(&mut got, &durations(&last));
    assert_counts(&got, &w.want, 1e-6);
    assert_eq!(own(&last, "dozor.access_log.rotations", &["rename"]), 1.0);
    drop(b);
    // A third start with nothing new counts nothing.
    let mut c3 = start(&c, &state);
    assert!(durations(&collect(&mut c3)).is_empty());
}
