//! The HTTP probe's configuration and request, without a network.

use super::*;

fn probe(yaml: &str) -> HttpProbe {
    serde_saphyr::from_str(yaml).unwrap()
}

#[test]
fn status_patterns() {
    let r = |p: StatusPattern| p.range();
    assert_eq!(r(StatusPattern::Code(204)), Ok((204, 204)));
    assert_eq!(r(StatusPattern::Text("2xx".into())), Ok((200, 299)));
    assert_eq!(r(StatusPattern::Text("200-204".into())), Ok((200, 204)));
    assert_eq!(r(StatusPattern::Text("404".into())), Ok((404, 404)));
    for bad in ["6xx", "204-200", "abc", "99"] {
        assert!(r(StatusPattern::Text(bad.into())).is_err(), "{bad}");
    }
    assert!(r(StatusPattern::Code(700)).is_err());
}

#[test]
fn every_problem_at_once_with_its_key() {
    let p = probe(
        r#"
url: "ftp://mes.plant/"
method: "G T"
headers: {"Bad Name": x, X-Ok: "a\r\nb"}
body: x
body_file: /nonexistent/body
bearer_token: t
basic_auth: {username: "a:b", password: p, password_file: /nonexistent/pw}
expect: {status: [200, "7xx"], body_regex: "(", header: {X-Count: "["}}
tls: {ca_file: /nonexistent/ca.pem, server_name: "not a name"}
resolver: "dns.plant"
max_body: 0
"#,
    );
    let mut v = dozor_config::Validator::default();
    p.validate(&mut v.at("http"));
    let text = format!("{v:?}");
    for key in [
        "\"http.url\"",
        "\"http.method\"",
        "\"http.headers.Bad Name\"",
        "\"http.headers.X-Ok\"",
        "\"http.body_file\"",
        "\"http.basic_auth\"",
        "\"http.basic_auth.username\"",
        "\"http.basic_auth.password_file\"",
        "\"http.expect.status[1]\"",
        "\"http.expect.body_regex\"",
        "\"http.expect.header.X-Count\"",
        "\"http.tls.server_name\"",
        "\"http.resolver\"",
        "\"http.max_body\"",
    ] {
        assert!(text.contains(key), "{key} not reported: {text}");
    }
    assert!(!text.contains("\"p\"") && !text.contains("ftp://mes.plant/\" t"));
}

#[test]
fn defaults() {
    let p = probe("url: https://mes.plant/api/orders\n");
    let mut v = dozor_config::Validator::default();
    p.validate(&mut v.at("http"));
    assert!(format!("{v:?}").contains("problems: []"), "{v:?}");
    assert_eq!(p.method, "GET");
    assert!(p.follow_redirects);
    assert_eq!(p.max_redirects, 10);
    assert_eq!(p.max_body, 1 << 20);
    assert!(!p.tls.insecure_skip_verify);
}

#[test]
fn secrets_are_redacted_in_debug() {
    let p = probe(
        "url: http://mes.plant/\nbearer_token: s3cr3t-token\nheaders: {X-Api-Key: s3cr3t-key, Accept: text/plain}\nbasic_auth: {username: op, password: s3cr3t-pw}\n",
    );
    let text = format!("{p:?}");
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(text.contains("text/plain") && text.contains("op"), "{text}");
}

#[test]
fn request_head() {
    let p = probe(
        "url: \"http://mes.plant:8080/api/orders?state=open\"\nmethod: post\nbody: \"{}\"\nheaders: {Accept: application/json}\nbearer_token: tok\n",
    );
    let ctx =
        crate::integrations::Context::for_tests(Duration::from_secs(10), Duration::from_secs(5));
    assert!(format!("{:?}", p.build(&ctx).is_ok()).contains("true"));
    let h = Http {
        url: Url::parse("http://mes.plant:8080/api/orders?state=open").unwrap(),
        method: "POST".into(),
        headers: vec![("Accept".into(), "application/json".into())],
        body: Some(b"{}".to_vec()),
        authorization: Some("Bearer tok".into()),
        follow_redirects: true,
        max_redirects: 10,
        status: vec![(200, 299)],
        body_regex: None,
        body_not_regex: None,
        header: vec![],
        tls: None,
        server_name: None,
        family: Family::Auto,
        resolver: None,
        max_body: 10,
    };
    let req = String::from_utf8(h.request(&h.url, "POST", Some(b"{}"))).unwrap();
    assert_eq!(
        req,
        "POST /api/orders?state=open HTTP/1.1\r\nHost: mes.plant:8080\r\nUser-Agent: dozor-probe\r\nConnection: close\r\nAccept: application/json\r\nAuthorization: Bearer tok\r\nContent-Length: 2\r\n\r\n{}"
    );
    // Credentials go to the configured origin only, not to where a redirect leads.
    let other = Url::parse("http://elsewhere.plant/").unwrap();
    let req = String::from_utf8(h.request(&other, "GET", None)).unwrap();
    assert!(!req.contains("Authorization"), "{req}");
}
