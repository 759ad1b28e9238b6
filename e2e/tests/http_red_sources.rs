//! The same HTTP traffic measured by two sources of the real agent (#13): packet capture on `lo`
//! and nginx's own access log, rotated in the middle, through the real collector. Both must
//! count exactly what the client received, per route and status, and agree on durations.

use dozor_testkit::nginx::Nginx;
use dozor_testkit::{Collector, Proc, http_get, wait_for};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

/// (service, route, status) -> (count, sum of seconds) of `http_server_request_duration_seconds`.
type Red = BTreeMap<(String, String, String), (u64, f64)>;

fn label<'a>(line: &'a str, name: &str) -> &'a str {
    let key = format!("{name}=\"");
    line.split(&key)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("")
}

fn red(metrics: &str) -> Red {
    let Ok((_, body)) = http_get(metrics, "/metrics") else {
        return Red::new();
    };
    let mut out = Red::new();
    for line in body.lines() {
        let (is_count, is_sum) = (
            line.starts_with("http_server_request_duration_seconds_count{"),
            line.starts_with("http_server_request_duration_seconds_sum{"),
        );
        if !is_count && !is_sum {
            continue;
        }
        let key = (
            label(line, "service_name").to_string(),
            label(line, "http_route").to_string(),
            label(line, "http_response_status_code").to_string(),
        );
        let v: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        let e = out.entry(key).or_default();
        match is_count {
            true => e.0 = v as u64,
            false => e.1 = v,
        }
    }
    out
}

fn of(red: &Red, service: &str) -> BTreeMap<(String, String), (u64, f64)> {
    red.iter()
        .filter(|((s, _, _), _)| s == service)
        .map(|((_, r, st), v)| ((r.clone(), st.clone()), *v))
        .collect()
}

#[test]
fn capture_and_access_log_count_the_same_requests() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let nginx = Nginx::start();
    let collector = Collector::start(d, "");
    let (grpc, _, _) = collector.ports();
    let config = format!(
        r#"agent: {{interval: 1s, timeout: 1s, state_dir: "{state}"}}
resource: {{instance_id: red-e2e, attributes: {{site: e2e, role: server}}}}
exporters:
  otlp:
    endpoints: ["http://127.0.0.1:{grpc}"]
    flush_interval: 200ms
integrations:
  host: {{enabled: false}}
  http_capture:
    enabled: true
    interfaces: [lo]
    ports: [{port}]
    services: {{{port}: shop-wire}}
    side: server
  access_log:
    enabled: true
    instances:
      - name: shop
        path: "{log}"
        service: shop-log
        format: nginx_combined
        server_address: 127.0.0.1
        server_port: {port}
        read_from: beginning
"#,
        state = d.join("state").display(),
        port = nginx.port,
        log = nginx.log.display(),
    );
    std::fs::write(d.join("agent.yaml"), config).unwrap();
    let _agent = Proc::spawn(
        "agent",
        d,
        Command::new(dozor_testkit::bin("dozor-agent"))
            .arg("--config")
            .arg(d.join("agent.yaml")),
    );
    // The capture is open once the agent has run its first collection.
    std::thread::sleep(Duration::from_secs(3));

    // What the client received is the ground truth of the counts.
    let mut sent: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut get = |path: &str, route: &str| {
        let status = nginx.get(path);
        *sent
            .entry((route.to_string(), status.to_string()))
            .or_default() += 1;
    };
    for i in 0..40 {
        get("/health", "/health");
        get(&format!("/orders/{i}"), "/orders/{id}");
        if i % 4 == 0 {
            get(&format!("/missing/{i}"), "/missing/{id}");
            get("/error", "/error");
        }
        if i == 20 {
            // logrotate's default: rename, then tell nginx to reopen.
            std::fs::rename(&nginx.log, nginx.log.with_extension("log.1")).unwrap();
            nginx.reopen();
        }
        if i % 10 == 0 {
            get("/slow/150", "/slow/{id}");
        }
    }
    let total: u64 = sent.values().sum();

    let settled = wait_for(Duration::from_secs(30), || {
        let r = red(&collector.metrics);
        let n = |s| of(&r, s).values().map(|v| v.0).sum::<u64>();
        (n("shop-wire") == total && n("shop-log") == total).then_some(r)
    });
    let r = settled.unwrap_or_else(|| {
        panic!(
            "sent {total} requests {sent:?}; the collector has {:?}",
            red(&collector.metrics)
        )
    });
    let wire = of(&r, "shop-wire");
    let log = of(&r, "shop-log");
    let counts = |m: &BTreeMap<(String, String), (u64, f64)>| {
        m.iter()
            .map(|(k, v)| (k.clone(), v.0))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(counts(&wire), sent, "capture");
    assert_eq!(counts(&log), sent, "access log");
    // nginx logs $request_time in milliseconds: each logged duration is within 1 ms of the
    // time the request spent on the wire.
    for (key, (n, wire_sum)) in &wire {
        let log_sum = log[key].1;
        assert!(
            (wire_sum - log_sum).abs() <= *n as f64 * 0.001 + 1e-9,
            "{key:?}: capture {wire_sum} s, access log {log_sum} s over {n} requests"
        );
    }
    let slow = wire[&("/slow/{id}".to_string(), "200".to_string())];
    assert!(slow.1 >= 0.150 * slow.0 as f64, "{slow:?}");
}
