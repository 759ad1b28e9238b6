use super::*;
use crate::RoutesConfig;
use dozor_metrics::sample::Sample;

const S: u64 = 1_000_000_000;

fn red(max_series: usize) -> Red {
    let mut cfg = RoutesConfig {
        patterns: vec!["/orders/{id}/cost".into()],
        ..Default::default()
    };
    cfg.limits.insert(
        "/orders/{id}/cost".into(),
        dozor_config::Duration(Duration::from_secs(45 * 60)),
    );
    let cfg_red = RedConfig {
        max_series,
        give_up: Duration::from_secs(7200),
        max_in_flight: 3,
    };
    Red::new(Routes::new(&cfg).unwrap(), cfg_red)
}

fn ex<'a>(target: &'a str, status: u16, start: u64, end: u64) -> Exchange<'a> {
    Exchange {
        side: Side::Server,
        service: "mes-api",
        method: "GET",
        target,
        status,
        server_address: "10.0.0.5",
        server_port: 8080,
        start_ns: start,
        end_ns: end,
        request_bytes: None,
        response_bytes: Some(1500),
    }
}

fn begin(target: &str, start: u64) -> Begin<'_> {
    Begin {
        side: Side::Server,
        service: "mes-api",
        method: "POST",
        target,
        server_address: "10.0.0.5",
        server_port: 8080,
        start_ns: start,
    }
}

fn find<'a>(samples: &'a [Sample], name: &str, attrs: &[&str]) -> Option<&'a Sample> {
    samples.iter().find(|s| {
        s.metric.name == name
            && s.attributes.len() == attrs.len()
            && s.attributes.iter().zip(attrs).all(|((_, v), a)| v == a)
    })
}

#[test]
fn finished_requests_fill_the_histograms_of_their_route_and_status() {
    let mut r = red(100);
    assert!(r.observe(&ex("/orders/1?x", 200, 10 * S, 10 * S + S / 100)));
    assert!(r.observe(&ex("/orders/2", 200, 20 * S, 22 * S)));
    assert!(r.observe(&ex("/orders/3", 503, 30 * S, 30 * S + 3 * S / 1000)));
    // No final status, no series: a request without a response is never given one.
    assert!(!r.observe(&ex("/orders/4", 0, 30 * S, 31 * S)));
    assert!(!r.observe(&ex("/orders/4", 99, 30 * S, 31 * S)));
    let mut rec = Recorder::new();
    r.record(40 * S, &mut rec);
    let s = rec.take();
    let ok = ["mes-api", "GET", "/orders/{id}", "200", "10.0.0.5", "8080"];
    let d = find(&s, "http.server.request.duration", &ok).unwrap();
    let h = d.histogram.as_ref().unwrap();
    assert_eq!(h.count(), 2);
    assert!((h.sum - 2.01).abs() < 1e-9, "{}", h.sum);
    // 10 ms is in the le=0.01 bucket, 2 s in le=2.5.
    assert_eq!(h.counts[3], 1);
    assert_eq!(h.counts[10], 1);
    let resp = find(&s, "http.server.response.body.size", &ok).unwrap();
    assert_eq!(resp.histogram.as_ref().unwrap().sum, 3000.0);
    // An unknown request size is not an empty body.
    let req = find(&s, "http.server.request.body.size", &ok).unwrap();
    assert_eq!(req.histogram.as_ref().unwrap().count(), 0);
    let err = ["mes-api", "GET", "/orders/{id}", "503", "10.0.0.5", "8080"];
    let d = find(&s, "http.server.request.duration", &err).unwrap();
    assert_eq!(d.histogram.as_ref().unwrap().count(), 1);
    assert_eq!(
        s.iter()
            .filter(|x| x.metric.name == "http.server.request.duration")
            .count(),
        2
    );
}

#[test]
fn a_long_request_is_in_flight_with_its_age_until_it_ends() {
    let mut r = red(100);
    r.begin(1, &begin("/orders/7/cost", 100 * S));
    r.begin(2, &begin("/orders/8/cost", 160 * S));
    let attrs = ["mes-api", "POST", "/orders/{id}/cost", "10.0.0.5", "8080"];
    let mut rec = Recorder::new();
    r.record(400 * S, &mut rec);
    let s = rec.take();
    assert_eq!(
        find(&s, "http.server.active_requests", &attrs)
            .unwrap()
            .value,
        2.0
    );
    let age = find(&s, "dozor.http.server.oldest_active.age", &attrs).unwrap();
    assert_eq!(age.value, 300.0);
    let limit = find(
        &s,
        "dozor.http.route.limit",
        &["mes-api", "/orders/{id}/cost"],
    )
    .unwrap();
    assert_eq!(limit.value, 2700.0);
    r.end(1);
    r.record(500 * S, &mut rec);
    let s = rec.take();
    assert_eq!(
        find(&s, "dozor.http.server.oldest_active.age", &attrs)
            .unwrap()
            .value,
        340.0
    );
    r.end(2);
    r.record(600 * S, &mut rec);
    let s = rec.take();
    // The gauge stays, at 0; the age is absent while nothing is in flight.
    assert_eq!(
        find(&s, "http.server.active_requests", &attrs)
            .unwrap()
            .value,
        0.0
    );
    assert!(find(&s, "dozor.http.server.oldest_active.age", &attrs).is_none());
    assert_eq!(
        find(&s, "dozor.http.server.abandoned", &attrs)
            .unwrap()
            .value,
        0.0
    );
}

#[test]
fn requests_without_a_response_after_give_up_are_abandoned() {
    let mut r = red(100);
    r.begin(1, &begin("/slow", 0));
    r.begin(2, &begin("/slow", 100 * S));
    let attrs = ["mes-api", "POST", "/slow", "10.0.0.5", "8080"];
    let mut rec = Recorder::new();
    r.record(7200 * S, &mut rec);
    assert_eq!(r.in_flight(), 2, "exactly give_up old is not yet abandoned");
    r.record(7201 * S, &mut rec);
    let s = rec.take();
    let last = |name| {
        s.iter()
            .rev()
            .find(|x| x.metric.name == name)
            .unwrap()
            .value
    };
    assert_eq!(last("dozor.http.server.abandoned"), 1.0);
    assert_eq!(last("http.server.active_requests"), 1.0);
    assert_eq!(last("dozor.http.server.oldest_active.age"), 7101.0);
    // Its late response ends nothing and invents nothing.
    r.end(1);
    assert_eq!(r.in_flight(), 1);
    // Over max_in_flight (3), a request is not tracked and counts as abandoned at once.
    for id in 10..13 {
        r.begin(id, &begin("/slow", 7300 * S));
    }
    assert_eq!(r.in_flight(), 3);
    r.record(7301 * S, &mut rec);
    let s = rec.take();
    // 1 given up before, request 2 (now 7201 s old) and the one not tracked.
    let ab = find(&s, "dozor.http.server.abandoned", &attrs).unwrap();
    assert_eq!(ab.value, 3.0);
    assert_eq!(r.in_flight(), 2);
}

#[test]
fn series_over_the_budget_go_to_the_overflow_route_and_are_counted() {
    let mut r = red(2);
    r.observe(&ex("/a", 200, 0, S));
    r.observe(&ex("/b", 200, 0, S));
    r.observe(&ex("/c", 200, 0, S));
    r.observe(&ex("/d", 200, 0, S));
    // A series already kept stays itself.
    r.observe(&ex("/a", 200, 0, S));
    let mut rec = Recorder::new();
    r.record(S, &mut rec);
    let s = rec.take();
    let count = |route: &str| {
        let attrs = ["mes-api", "GET", route, "200", "10.0.0.5", "8080"];
        find(&s, "http.server.request.duration", &attrs)
            .map(|x| x.histogram.as_ref().unwrap().count())
    };
    assert_eq!(count("/a"), Some(2));
    assert_eq!(count("/b"), Some(1));
    assert_eq!(count("/c"), None);
    assert_eq!(count(OVERFLOW_ROUTE), Some(2));
    assert_eq!(
        find(&s, "dozor.http.overflow.series", &["mes-api"])
            .unwrap()
            .value,
        2.0
    );
}

#[test]
fn client_side_requests_go_to_the_client_metrics() {
    let mut r = red(10);
    let mut e = ex("/x", 204, 0, S);
    e.side = Side::Client;
    e.method = "BREW";
    r.observe(&e);
    let mut rec = Recorder::new();
    r.record(S, &mut rec);
    let s = rec.take();
    let attrs = ["mes-api", "_OTHER", "/x", "204", "10.0.0.5", "8080"];
    assert!(find(&s, "http.client.request.duration", &attrs).is_some());
    assert!(find(&s, "http.server.request.duration", &attrs).is_none());
}
