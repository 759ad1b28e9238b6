//! The probes of a real agent reach a real collector with the workstation's `desk`, and what
//! the collector exposes is what the targets did: a listener that accepts, a port that refuses.
//! Restarted, the agent counts its failures from zero again, with a new start time, so a
//! Prometheus `rate()` sees a counter reset, never a drop read as a rise.

use dozor_testkit::{Collector, http_get, start_agent, wait_for};
use std::net::TcpListener;
use std::time::Duration;

fn metric(metrics: &str, series: &str) -> Option<f64> {
    let (_, body) = http_get(metrics, "/metrics").ok()?;
    body.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn tcp_probe_results_reach_the_collector_with_the_desk() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let collector = Collector::start(d, "");
    let (grpc, _, metrics) = collector.ports();
    let open = TcpListener::bind("127.0.0.1:0").unwrap();
    let open_port = open.local_addr().unwrap().port();
    let closed_port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    std::thread::spawn(move || {
        for c in open.incoming() {
            drop(c)
        }
    });
    let config = format!(
        r#"agent: {{interval: 1s, timeout: 1s}}
resource: {{instance_id: ws-7, attributes: {{site: plant-1, role: workstation, desk: packing-3}}}}
exporters:
  otlp:
    endpoints: ["http://127.0.0.1:{grpc}"]
    flush_interval: 200ms
    buffer: {{path: "{buffer}"}}
integrations:
  host: {{enabled: false}}
  probes:
    enabled: true
    interval: 500ms
    targets:
      - {{name: mes-api, tcp: {{address: "127.0.0.1:{open_port}"}}}}
      - {{name: mes-db, tcp: {{address: "127.0.0.1:{closed_port}"}}}}
"#,
        buffer = d.join("buffer").display()
    );
    let labels = |target: &str| {
        format!(
            "desk=\"packing-3\",instance=\"ws-7\",job=\"dozor-agent\",probe_kind=\"tcp\",probe_target=\"{target}\",role=\"workstation\",site=\"plant-1\""
        )
    };
    let refused = "dozor_probe_failures_total{desk=\"packing-3\",error_type=\"refused\",instance=\"ws-7\",job=\"dozor-agent\",probe_kind=\"tcp\",probe_target=\"mes-db\",role=\"workstation\",site=\"plant-1\"} ";
    // The first life runs to 10 probes; the second, restarted, is seen once its own count
    // (from zero) has replaced the first's at the collector.
    let mut before = f64::INFINITY;
    for life in 1..=2 {
        let mut agent = start_agent(d, "agent", &config);
        let seen = wait_for(Duration::from_secs(20), || {
            let runs = metric(
                &metrics,
                &format!("dozor_probe_runs_total{{{}}} ", labels("mes-db")),
            )?;
            let failed = metric(&metrics, refused)?;
            let enough = if life == 1 {
                runs >= 10.0
            } else {
                runs >= 3.0 && runs < before
            };
            enough.then_some((runs, failed))
        });
        let (runs, failed) = seen.unwrap_or_else(|| {
            panic!(
                "life {life}: no probe series at the collector:\n{}",
                std::fs::read_to_string(d.join("agent.log")).unwrap_or_default()
            )
        });
        // Every run of the closed port failed, refused (read in one scrape, the two may be one
        // run apart).
        assert!(
            (failed - runs).abs() <= 1.0,
            "life {life}: {failed} refused of {runs} runs"
        );
        let ok = |name: &str| {
            metric(
                &metrics,
                &format!("dozor_probe_success{{{}}} ", labels(name)),
            )
        };
        assert_eq!(ok("mes-api"), Some(1.0));
        assert_eq!(ok("mes-db"), Some(0.0));
        let took = metric(
            &metrics,
            &format!("dozor_probe_duration_seconds{{{}}} ", labels("mes-api")),
        );
        assert!(took.is_some_and(|t| t > 0.0 && t < 0.1), "{took:?}");
        // No duration for the probe that failed.
        assert_eq!(
            metric(
                &metrics,
                &format!("dozor_probe_duration_seconds{{{}}} ", labels("mes-db"))
            ),
            None
        );
        agent.kill();
        before = runs;
    }
}
