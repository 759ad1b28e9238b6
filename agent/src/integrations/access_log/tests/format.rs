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
    assert_eq!((r.duration_s, r.response_bytes), (0.125, 17));
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
    assert_eq!((r.duration_s, r.response_bytes), (0.001234, 0));
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
        (310, 0, 0.004)
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
    assert_eq!((r.response_bytes, r.request_bytes), (12, 80));
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
