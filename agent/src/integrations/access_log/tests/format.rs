//! The line formats on literal lines: every field read, every refusal by its reason.

use crate::integrations::access_log::format::{APACHE_COMBINED, NGINX_COMBINED, TextFormat};
use crate::integrations::access_log::json::{JsonFields, TimeUnit};
use crate::integrations::access_log::request::Reject;

const NGINX: &str = r#"10.0.0.7 - - [07/Dec/2026:03:18:11 +0000] "POST /orders/42?x=1 HTTP/1.1" 201 17 "-" "curl/7.88 \x22q\x22" 0.125"#;

#[test]
fn nginx_combined_with_request_time() {
    let f = TextFormat::compile(NGINX_COMBINED).unwrap();
    let r = f.parse(NGINX).unwrap();
    assert_eq!(
        (&*r.method, &*r.target, r.status),
        ("POST", "/orders/42?x=1", 201)
    );
    assert_eq!(
        (r.duration_s, r.response_bytes, r.request_bytes),
        (0.125, Some(17), None)
    );
    // date -u -d 2026-12-07T03:18:11Z +%s = 1796613491
    assert_eq!(r.end_ns, Some(1_796_613_491_000_000_000));
    assert!(!f.has_host && !f.has_port);
}

#[test]
fn apache_combined_with_microseconds() {
    let f = TextFormat::compile(APACHE_COMBINED).unwrap();
    let line = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 - "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)" 1234"#;
    let r = f.parse(line).unwrap();
    assert_eq!(
        (&*r.method, &*r.target, r.status),
        ("GET", "/apache_pb.gif", 200)
    );
    assert_eq!((r.duration_s, r.response_bytes), (0.001234, Some(0)));
    assert_eq!(r.end_ns, Some(971_211_336_000_000_000));
}

#[test]
fn custom_formats_read_what_they_log_and_skip_the_rest() {
    let f = TextFormat::compile(
        "$host:$server_port ${remote_addr} [$time_iso8601] \"$request_method $request_uri\" $status $request_length $body_bytes_sent rt=$request_time urt=$upstream_response_time $http_x_trace",
    )
    .unwrap();
    assert!(f.has_host && f.has_port);
    let r = f
        .parse(r#"api.example:8443 10.1.1.1 [2026-12-07T03:18:11+00:00] "GET /a/b" 404 310 0 rt=0.004 urt=0.003, 0.001 abc-def"#)
        .unwrap();
    assert_eq!((&*r.method, &*r.target, r.status), ("GET", "/a/b", 404));
    assert_eq!(
        (r.request_bytes, r.response_bytes, r.duration_s),
        (Some(310), Some(0), 0.004)
    );
    assert_eq!(
        (r.host.as_deref(), r.port),
        (Some("api.example"), Some(8443))
    );
}

#[test]
fn bad_lines_are_refused_by_reason() {
    let f = TextFormat::compile(NGINX_COMBINED).unwrap();
    let ok = NGINX;
    for (line, why) in [
        ("garbage", Reject::Format),
        ("", Reject::Format),
        (&ok[..60], Reject::Format),
        // The last variable runs to the end of the line.
        (&*format!("{ok} trailing"), Reject::Duration),
        (
            &*ok.replace("\"POST /orders/42?x=1 HTTP/1.1\"", "\"-\""),
            Reject::Request,
        ),
        (
            &*ok.replace("\"POST /orders/42?x=1 HTTP/1.1\"", "\"\\x16\\x03\\x01\""),
            Reject::Request,
        ),
        (&*ok.replace(" 201 ", " 2010 "), Reject::Status),
        (&*ok.replace(" 201 ", " 099 "), Reject::Status),
        (&*ok.replace(" 201 ", " abc "), Reject::Status),
        (&*ok.replace(" 0.125", " -"), Reject::Duration),
        (&*ok.replace(" 0.125", " -1.0"), Reject::Duration),
        (&*ok.replace("Dec/2026", "Foo/2026"), Reject::Time),
        (&*ok.replace(" 17 ", " x17 "), Reject::Format),
    ] {
        assert_eq!(f.parse(line).map(|_| ()), Err(why), "{line}");
    }
}

#[test]
fn unusable_formats_say_why() {
    for (format, why) in [
        ("$request $request_time", "no $status"),
        ("$status $request_time", "no $request"),
        ("$request_method $status $request_time", "no $request"),
        ("\"$request\" $status", "no $request_time"),
        (
            "\"$request\" $status$request_time",
            "follows another variable",
        ),
        ("\"$request\" $status ${request_time", "unclosed"),
        (
            "\"$request\" $status $ $request_time",
            "without a variable name",
        ),
    ] {
        let e = TextFormat::compile(format).unwrap_err();
        assert!(e.contains(why), "{format}: {e}");
    }
}

#[test]
fn json_lines_with_the_default_and_a_custom_mapping() {
    let j = JsonFields::default();
    let r = j
        .parse(r#"{"time":"2026-12-07T03:18:11+00:00","method":"GET","uri":"/orders/9","status":"200","request_time":"0.250","body_bytes_sent":"12","request_length":"80"}"#)
        .unwrap();
    assert_eq!(
        (&*r.method, &*r.target, r.status, r.duration_s),
        ("GET", "/orders/9", 200, 0.25)
    );
    assert_eq!((r.response_bytes, r.request_bytes), (Some(12), Some(80)));
    assert_eq!(r.end_ns, Some(1_796_613_491_000_000_000));

    let j = JsonFields {
        request: Some("http.request".into()),
        status: "http.status".into(),
        request_time: "ms".into(),
        request_time_unit: TimeUnit::Ms,
        time: "ts".into(),
        ..JsonFields::default()
    };
    let r = j
        .parse(r#"{"http":{"request":"DELETE /x/1 HTTP/2.0","status":204},"ms":1500,"ts":1796613491.5}"#)
        .unwrap();
    assert_eq!(
        (&*r.method, &*r.target, r.status, r.duration_s),
        ("DELETE", "/x/1", 204, 1.5)
    );
    assert_eq!(r.end_ns, Some(1_796_613_491_500_000_000));

    let d = JsonFields::default();
    for (line, why) in [
        ("not json", Reject::Json),
        ("[1,2]", Reject::Json),
        (
            r#"{"method":"GET","status":200,"request_time":0.1}"#,
            Reject::Request,
        ),
        (
            r#"{"method":"GET","uri":"/","request_time":0.1}"#,
            Reject::Status,
        ),
        (
            r#"{"method":"GET","uri":"/","status":200}"#,
            Reject::Duration,
        ),
        (
            r#"{"method":"GET","uri":"/","status":200,"request_time":0.1,"time":"soon"}"#,
            Reject::Time,
        ),
    ] {
        assert_eq!(d.parse(line).map(|_| ()), Err(why), "{line}");
    }
}

/// Writes `lines` to a fresh log and reads it with `format` through the integration.
fn read_all(format: super::FormatConfig, lines: &[String]) -> Vec<dozor_metrics::sample::Sample> {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(&log, lines.concat()).unwrap();
    let mut c = super::instance("t", &log, format);
    c.routes.patterns = vec!["/orders/{id}".into()];
    let mut a = super::start(&c, &dir.path().join("state"));
    super::collect(&mut a)
}

#[test]
fn apache_combined_lines_through_the_integration() {
    let mut want = super::Counts::new();
    let lines: Vec<String> = (0..60u64)
        .map(|i| {
            let (status, us) = if i % 3 == 0 { (500, 2_500_000 + i) } else { (200, 900 + i) };
            let e = want.entry(("PUT".into(), "/orders/{id}".into(), status)).or_default();
            e.0 += 1;
            e.1 += us as f64 / 1e6;
            format!("10.0.0.1 - bob [07/Dec/2026:04:00:{:02} +0100] \"PUT /orders/{i} HTTP/1.1\" {status} {} \"-\" \"ua\" {us}\n", i % 60, if i % 2 == 0 { "-".to_string() } else { i.to_string() })
        })
        .collect();
    let s = read_all(super::FormatConfig::ApacheCombined, &lines);
    super::assert_counts(&super::durations(&s), &want, 1e-9);
}

#[test]
fn json_lines_through_the_integration() {
    let mut want = super::Counts::new();
    let lines: Vec<String> = (0..40u64)
        .map(|i| {
            let (method, status) = if i % 4 == 0 { ("DELETE", 204) } else { ("GET", 200) };
            let e = want.entry((method.into(), "/orders/{id}".into(), status)).or_default();
            e.0 += 1;
            e.1 += (i * 10) as f64 / 1e3;
            format!("{{\"ts\":\"2026-12-07T04:00:00.{i:03}Z\",\"req\":{{\"m\":\"{method}\",\"uri\":\"/orders/{i}\"}},\"code\":{status},\"ms\":{}}}\n", i * 10)
        })
        .chain(["{\"truncated\": \n".to_string()])
        .collect();
    let fields = JsonFields {
        method: "req.m".into(),
        path: "req.uri".into(),
        status: "code".into(),
        request_time: "ms".into(),
        request_time_unit: TimeUnit::Ms,
        time: "ts".into(),
        ..JsonFields::default()
    };
    let s = read_all(super::FormatConfig::Json(Box::new(fields)), &lines);
    super::assert_counts(&super::durations(&s), &want, 1e-9);
    assert_eq!(
        super::own(&s, "dozor.access_log.lines.rejected", &["json"]),
        1.0
    );
}
