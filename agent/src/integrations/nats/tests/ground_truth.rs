//! Exact stream and consumer figures against what the test itself published, fetched and
//! acknowledged.

use super::*;

#[test]
fn pending_and_ack_pending_are_exact() {
    let stream = TestStream::new("dozortest_orders");
    let s = stream.0.as_str();
    let mut js = JsClient::connect(SHARED);
    js.create_stream(s);
    const N: usize = 20;
    const K: usize = 12;
    const J: usize = 5;
    let seqs = js.publish(s, N);
    assert_eq!(seqs, (1..=N as u64).collect::<Vec<_>>());
    js.create_consumer(s, "billing");
    let acks = js.fetch(s, "billing", K);
    assert_eq!(acks.len(), K);
    for a in &acks[..J] {
        js.ack(a);
    }

    let mut cfg = instance("events", SHARED);
    cfg.include_streams = Some(dozor_config::RegexPattern(
        regex::Regex::new(&format!("^{s}$")).unwrap(),
    ));
    cfg.consumers = vec![format!("{s}/billing"), format!("{s}/not_yet")];
    let mut n = Nats::new(&cfg, TIMEOUT).unwrap();
    let (got, result) = collect(&mut n);
    result.unwrap();
    let st = |m: &str| value(&got, m, &[s]);
    let c = |m: &str| value(&got, m, &[s, "billing"]);
    assert_eq!(value(&got, "dozor.nats.up", &[]), Some(1.0));
    assert_eq!(st("dozor.nats.stream.messages"), Some(N as f64));
    assert!(st("dozor.nats.stream.bytes").unwrap() > 0.0);
    assert_eq!(st("dozor.nats.stream.first_sequence"), Some(1.0));
    assert_eq!(st("dozor.nats.stream.last_sequence"), Some(N as f64));
    assert_eq!(st("dozor.nats.stream.consumers"), Some(1.0));
    assert_eq!(c("dozor.nats.consumer.exists"), Some(1.0));
    assert_eq!(c("dozor.nats.consumer.pending"), Some((N - K) as f64));
    assert_eq!(c("dozor.nats.consumer.ack_pending"), Some((K - J) as f64));
    assert_eq!(c("dozor.nats.consumer.redelivered"), Some(0.0));
    assert_eq!(c("dozor.nats.consumer.delivered"), Some(K as f64));
    assert_eq!(c("dozor.nats.consumer.ack_floor"), Some(J as f64));

    // Configured but absent: reported, not an error.
    assert_eq!(
        value(&got, "dozor.nats.consumer.exists", &[s, "not_yet"]),
        Some(0.0)
    );
    assert_eq!(
        value(&got, "dozor.nats.consumer.pending", &[s, "not_yet"]),
        None
    );

    // The consumer appears: the next run reports it.
    js.create_consumer(s, "not_yet");
    js.publish(s, 3);
    let (got, result) = collect(&mut n);
    result.unwrap();
    assert_eq!(
        value(&got, "dozor.nats.consumer.exists", &[s, "not_yet"]),
        Some(1.0)
    );
    assert_eq!(
        value(&got, "dozor.nats.consumer.pending", &[s, "not_yet"]),
        Some((N + 3) as f64)
    );
    assert_eq!(
        value(&got, "dozor.nats.consumer.pending", &[s, "billing"]),
        Some((N + 3 - K) as f64)
    );
}

#[test]
fn the_series_budget_folds_the_rest_into_other() {
    let a = TestStream::new("dozortest_budget_a");
    let b = TestStream::new("dozortest_budget_b");
    let mut js = JsClient::connect(SHARED);
    js.create_stream(&a.0);
    js.create_stream(&b.0);
    js.publish(&a.0, 4);
    js.publish(&b.0, 7);
    js.create_consumer(&a.0, "c1");
    js.create_consumer(&b.0, "c2");
    let mut cfg = instance("events", SHARED);
    cfg.include_streams = Some(dozor_config::RegexPattern(
        regex::Regex::new(&format!("^({}|{})$", a.0, b.0)).unwrap(),
    ));
    cfg.max_series = 1;
    let mut n = Nats::new(&cfg, TIMEOUT).unwrap();
    let (got, result) = collect(&mut n);
    result.unwrap();
    // a sorts first: it keeps its series; b is folded into _other.
    assert_eq!(
        value(&got, "dozor.nats.stream.messages", &[&a.0]),
        Some(4.0)
    );
    assert_eq!(
        value(&got, "dozor.nats.stream.messages", &["_other"]),
        Some(7.0)
    );
    assert_eq!(
        value(&got, "dozor.nats.overflow.entities", &["stream"]),
        Some(1.0)
    );
    assert_eq!(
        value(&got, "dozor.nats.consumer.pending", &[&a.0, "c1"]),
        Some(4.0)
    );
    assert_eq!(
        value(&got, "dozor.nats.consumer.pending", &[&b.0, "c2"]),
        None
    );
}

/// The age of the oldest undelivered message, against when the test published it.
#[test]
fn lag_in_seconds_is_the_age_of_the_oldest_undelivered_message() {
    let stream = TestStream::new("dozortest_age");
    let s = stream.0.as_str();
    let mut js = JsClient::connect(SHARED);
    js.create_stream(s);
    js.publish(s, 1);
    let second_published = std::time::Instant::now();
    js.publish(s, 1);
    js.create_consumer(s, "billing");
    js.create_consumer(s, "idle");
    js.fetch(s, "billing", 1);
    // The ground truth needs time to pass: the 2nd message is the oldest billing has not had.
    std::thread::sleep(Duration::from_millis(2500));
    js.publish(s, 1);
    let _ = js.fetch(s, "idle", 3);
    let mut cfg = instance("events", SHARED);
    cfg.include_streams = Some(dozor_config::RegexPattern(
        regex::Regex::new(&format!("^{s}$")).unwrap(),
    ));
    let (got, result) = collect(&mut Nats::new(&cfg, TIMEOUT).unwrap());
    result.unwrap();
    let truth = second_published.elapsed().as_secs_f64();
    let age = value(&got, "dozor.nats.consumer.lag.age", &[s, "billing"]).unwrap();
    assert!((age - truth).abs() < 1.0, "age {age}, truth {truth}");
    // Everything delivered (if not acknowledged): nothing waits, 0.
    assert_eq!(
        value(&got, "dozor.nats.consumer.lag.age", &[s, "idle"]),
        Some(0.0)
    );
}
