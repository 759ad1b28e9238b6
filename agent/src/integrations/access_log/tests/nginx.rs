//! A real nginx (Debian's package, `dozor_testkit::nginx`) driven by real HTTP requests with
//! known routes and statuses, its log rotated in the middle by rename and reopen (SIGUSR1, as
//! logrotate does), or by copytruncate. The truth: the requests sent and the statuses received,
//! and for durations nginx's own log lines.

use super::{Counts, assert_counts, collect, durations, histograms, instance, own, start};
use crate::integrations::access_log::config::FormatConfig;
use crate::integrations::access_log::format::NGINX_COMBINED;
use dozor_testkit::nginx::{LOG_FORMAT, Nginx};
use dozor_testkit::wait_for;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Request `i`: its path, the route it must land on and the status nginx must answer.
fn request(i: u64) -> (String, &'static str, u16) {
    match i % 6 {
        0 => ("/health".into(), "/health", 200),
        1 => (format!("/orders/{i}"), "/orders/{id}", 200),
        2 => (format!("/missing/{i}?q=x"), "/missing/{id}", 404),
        3 => ("/error".into(), "/error", 503),
        4 if i.is_multiple_of(4) => ("/slow/120".into(), "/slow/{ms}", 200),
        _ => (format!("/orders/{i}?page=2"), "/orders/{id}", 200),
    }
}

/// Sends requests `range`, checking each status, and counts them in `want`.
fn send(n: &Nginx, range: std::ops::Range<u64>, want: &mut Counts) {
    for i in range {
        let (path, route, status) = request(i);
        assert_eq!(n.get(&path), status, "GET {path}");
        want.entry(("GET".into(), route.into(), status))
            .or_default()
            .0 += 1;
    }
}

/// The request lines nginx wrote into `files`.
fn logged(files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|t| t.lines().map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

/// Waits until nginx has logged `sent` requests in `files` (it logs after answering).
fn wait_logged(n: &Nginx, files: &[PathBuf], sent: u64) {
    let done = wait_for(Duration::from_secs(10), || {
        (logged(files).len() as u64 == sent).then_some(())
    });
    assert!(
        done.is_some(),
        "nginx logged {} of {sent}: {}",
        logged(files).len(),
        n.errors()
    );
}

/// Adds to `want` the durations nginx logged: per route and status, the sum of the last field
/// (`$request_time`) of its lines, read here with a split, not with the integration's parser.
fn with_logged_durations(want: &mut Counts, files: &[PathBuf]) {
    for line in logged(files) {
        let request_line = line.split('"').nth(1).expect("a quoted request");
        let path = request_line.split(' ').nth(1).expect("a path");
        let i = (0..600)
            .find(|i| request_path(*i) == path)
            .expect("a path this test sent");
        let (_, route, status) = request(i);
        let seconds: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        want.get_mut(&("GET".to_string(), route.to_string(), status))
            .unwrap()
            .1 += seconds;
    }
}

/// Per route and status, the count and the sum of the response body sizes nginx logged
/// (`$body_bytes_sent`, the field after the status).
fn logged_body_sizes(files: &[PathBuf]) -> Counts {
    let mut out = Counts::new();
    for line in logged(files) {
        let after = line
            .split('"')
            .nth(2)
            .expect("status and size after the request");
        let mut f = after.split_whitespace();
        let status: u16 = f.next().unwrap().parse().unwrap();
        let size: f64 = f.next().unwrap().parse().unwrap();
        let path = line.split('"').nth(1).unwrap().split(' ').nth(1).unwrap();
        let i = (0..600).find(|i| request_path(*i) == path).unwrap();
        let e = out
            .entry(("GET".into(), request(i).1.into(), status))
            .or_default();
        e.0 += 1;
        e.1 += size;
    }
    out
}

fn request_path(i: u64) -> String {
    request(i).0
}

fn setup(n: &Nginx, state: &Path) -> super::super::AccessLog {
    assert_eq!(
        LOG_FORMAT, NGINX_COMBINED,
        "the test's nginx logs in nginx_combined"
    );
    let mut c = instance("nginx", &n.log, FormatConfig::NginxCombined);
    c.routes.patterns = vec![
        "/orders/{id}".into(),
        "/missing/{id}".into(),
        "/slow/{ms}".into(),
    ];
    start(&c, state)
}

#[test]
fn nginx_rotated_by_rename_and_reopen_counts_every_request_once() {
    let n = Nginx::start();
    let state = tempfile::tempdir().unwrap();
    let old = n.log.with_extension("log.1");
    let files = [old.clone(), n.log.clone()];
    let mut a = setup(&n, state.path());
    let mut want = Counts::new();
    send(&n, 0..40, &mut want);
    wait_logged(&n, &files, 40);
    collect(&mut a);
    send(&n, 40..60, &mut want);
    std::fs::rename(&n.log, &old).unwrap();
    // Until it reopens, nginx writes on into the renamed file.
    send(&n, 60..70, &mut want);
    wait_logged(&n, &files, 70);
    n.reopen();
    send(&n, 70..100, &mut want);
    wait_logged(&n, &files, 100);
    collect(&mut a);
    let s = collect(&mut a);
    with_logged_durations(&mut want, &files);
    assert_counts(&durations(&s), &want, 1e-6);
    let slow = want[&("GET".to_string(), "/slow/{ms}".to_string(), 200)];
    assert!(
        slow.1 >= 0.119 * slow.0 as f64,
        "slow requests logged {slow:?}"
    );
    assert_counts(
        &histograms(&s, "http.server.response.body.size"),
        &logged_body_sizes(&files),
        0.0,
    );
    // The format logs no $request_length: no request size observed, rather than sizes of 0.
    let requests = histograms(&s, "http.server.request.body.size");
    assert!(requests.values().all(|(n, _)| *n == 0), "{requests:?}");
    assert_eq!(own(&s, "dozor.access_log.lines.parsed", &[]), 100.0);
    assert_eq!(own(&s, "dozor.access_log.rotations", &["rename"]), 1.0);
    assert_eq!(own(&s, "dozor.access_log.lines.rejected", &["format"]), 0.0);
}

#[test]
fn nginx_rotated_by_copytruncate_counts_every_request_once() {
    let n = Nginx::start();
    let state = tempfile::tempdir().unwrap();
    let copy = n.log.with_extension("log.1");
    let mut a = setup(&n, state.path());
    let mut want = Counts::new();
    send(&n, 0..50, &mut want);
    wait_logged(&n, std::slice::from_ref(&n.log), 50);
    collect(&mut a);
    send(&n, 50..70, &mut want);
    wait_logged(&n, std::slice::from_ref(&n.log), 70);
    // logrotate's copytruncate: copy, then truncate the file nginx keeps appending to.
    std::fs::copy(&n.log, &copy).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&n.log)
        .unwrap()
        .set_len(0)
        .unwrap();
    send(&n, 70..100, &mut want);
    let files = [copy, n.log.clone()];
    wait_logged(&n, &files, 100);
    let s = collect(&mut a);
    with_logged_durations(&mut want, &files);
    assert_counts(&durations(&s), &want, 1e-6);
    assert_eq!(own(&s, "dozor.access_log.lines.parsed", &[]), 100.0);
    assert_eq!(own(&s, "dozor.access_log.rotations", &["truncate"]), 1.0);
}
