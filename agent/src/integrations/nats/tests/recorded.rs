//! Records the series behind alerts/tests/nats.test.yml from a real run: a producer publishes
//! 25 messages every step; the consumer fetches and acknowledges them for 4 steps, then only
//! fetches for 4 (acks pending grow), then stops. Each step is one collection (one minute of
//! the promtool test). Run with
//! `cargo test -p dozor-agent --bin dozor-agent recorded -- --ignored --nocapture`;
//! the output is in alerts/tests/recorded/nats-stopped-consumer.txt.

use super::*;

#[test]
#[ignore = "records alert test input; run by hand"]
fn recorded_stopped_consumer() {
    let stream = TestStream::new("dozortest_recorded");
    let s = stream.0.as_str();
    let mut js = JsClient::connect(SHARED);
    js.create_stream(s);
    js.create_consumer(s, "billing");
    let mut cfg = instance("events", SHARED);
    cfg.include_streams = Some(dozor_config::RegexPattern(
        regex::Regex::new(&format!("^{s}$")).unwrap(),
    ));
    let mut n = Nats::new(&cfg, TIMEOUT).unwrap();
    let (mut pending, mut ack_pending) = (Vec::new(), Vec::new());
    for step in 0..30 {
        js.publish(s, 25);
        if step < 8 {
            for a in js.fetch(s, "billing", 25) {
                if step < 4 {
                    js.ack(&a);
                }
            }
        }
        let (got, result) = collect(&mut n);
        result.unwrap();
        pending.push(value(&got, "dozor.nats.consumer.pending", &[s, "billing"]).unwrap());
        ack_pending.push(value(&got, "dozor.nats.consumer.ack_pending", &[s, "billing"]).unwrap());
    }
    let show = |v: &[f64]| {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("dozor_nats_consumer_pending {}", show(&pending));
    println!("dozor_nats_consumer_ack_pending {}", show(&ack_pending));
}
