//! Errors: nothing listening, a broker that accepts and never answers. Each is a clear error
//! naming the instance and the fix, and the next collection retries.

use super::{collect, instance, integration, value};
use dozor_testkit::free_port;
use std::net::TcpListener;
use std::time::{Duration, Instant};

#[test]
fn nothing_listening_is_a_connect_error_and_the_next_run_retries() {
    let port = free_port();
    let mut k = integration(&instance("gone", &format!("127.0.0.1:{port}")));
    let (s, result) = collect(&mut k);
    let e = result.unwrap_err();
    assert_eq!(e.kind, "connect");
    assert!(e.message.contains("kafka instance gone"), "{}", e.message);
    assert!(e.message.contains("bootstrap_servers"), "{}", e.message);
    assert_eq!(value(&s, "dozor.kafka.up", &["gone"]), Some(0.0));
    // A broker appears on the port: the same integration's next collection connects.
    let broker = dozor_testkit::kafka::Broker::start_on(port);
    let (s, first) = collect(&mut k);
    first.unwrap();
    assert_eq!(value(&s, "dozor.kafka.up", &["gone"]), Some(1.0));
    // It stops: the run after fails again, and says so.
    drop(broker);
    let (s, again) = collect(&mut k);
    assert!(again.is_err(), "a stopped broker fails the run");
    assert_eq!(value(&s, "dozor.kafka.up", &["gone"]), Some(0.0));
}

#[test]
fn a_hanging_broker_times_out_within_the_budget_and_is_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts and never answers; keeps the sockets open.
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in listener.incoming().take(2) {
            conns.push(c);
        }
        std::thread::sleep(Duration::from_secs(10));
    });
    let config = instance("stuck", &addr.to_string());
    let mut k = super::super::Kafka::new(&config, Duration::from_secs(1));
    for run in 0..2 {
        let start = Instant::now();
        let (s, result) = collect(&mut k);
        let took = start.elapsed();
        let e = result.unwrap_err();
        assert_eq!(e.kind, "timeout", "run {run}: {}", e.message);
        assert!(e.message.contains("kafka instance stuck"), "{}", e.message);
        assert!(
            e.message.contains("did not answer ApiVersions"),
            "{}",
            e.message
        );
        // The deadline is 80% of the integration's timeout, so the scheduler never has to
        // abandon the run.
        assert!(took < Duration::from_secs(1), "run {run} took {took:?}");
        assert_eq!(value(&s, "dozor.kafka.up", &["stuck"]), Some(0.0));
    }
    // Each run opened a new connection and asked again.
    assert_eq!(k.requests().get("ApiVersions"), Some(&2));
    drop(held);
}
