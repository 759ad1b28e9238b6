//! Tests against the real RabbitMQ on 127.0.0.1 (AMQP :5672, management :15672 and
//! rabbitmq_prometheus :15692; `scripts/peers/rabbitmq.sh` enables and starts them), with
//! Python's pika as the AMQP client (`amqp.py`, beside this file). Every test works on queues
//! named with a prefix of its own and deletes them.

mod bench;
mod errors;
mod record;

use super::{InstanceConfig, Rabbitmq};
use crate::integrations::{Integration, IntegrationError};
use dozor_metrics::sample::{Recorder, Sample};
use std::process::Command;
use std::time::Duration;

pub use crate::integrations::testing::value;

/// Runs `amqp.py` with `steps`; panics with its output when it fails.
pub fn amqp(steps: &[String]) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/integrations/rabbitmq/tests/amqp.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .args(steps)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "amqp.py {steps:?} failed (RabbitMQ on 127.0.0.1:5672 and pika needed: scripts/peers/rabbitmq.sh): {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `amqp.py` with `steps` then `stay`: its connection stays open until the child is dropped
/// (its stdin closed).
pub fn amqp_open(steps: &[String]) -> std::process::Child {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/integrations/rabbitmq/tests/amqp.py"
    );
    let mut child = Command::new("python3")
        .arg(script)
        .args(steps)
        .arg("stay")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut out, &mut line).unwrap_or(0) > 0 {
        if line.trim() == "stay" {
            return child;
        }
        line.clear();
    }
    let _ = child.wait();
    panic!(
        "amqp.py {steps:?} failed (RabbitMQ on 127.0.0.1:5672 and pika needed: scripts/peers/rabbitmq.sh)"
    );
}

/// `rabbitmqctl` with `args`; panics when it fails.
pub fn rabbitmqctl(args: &[&str]) {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl runs");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An instance named `name` on the local broker reading only queues starting with `prefix.`,
/// its stats read on every collection.
pub fn instance(name: &str, prefix: &str) -> InstanceConfig {
    InstanceConfig {
        name: name.into(),
        include: Some(dozor_config::RegexPattern(
            regex::Regex::new(&format!("^{}\\.", regex::escape(prefix))).unwrap(),
        )),
        stats_interval: dozor_config::Duration(Duration::ZERO),
        ..InstanceConfig::default()
    }
}

/// One collection with a 5 s timeout: its samples and its result.
pub fn collect(r: &mut Rabbitmq) -> (Vec<Sample>, Result<(), IntegrationError>) {
    let mut rec = Recorder::new();
    let result = r.collect(&mut rec);
    (rec.take(), result)
}

/// Collects until `check` accepts the samples (the plugin lags about 1.5 s, the management
/// API up to about 6 s, longer on a loaded machine), for at most 60 s; the last samples.
pub fn poll(r: &mut Rabbitmq, check: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
    let until = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (samples, result) = collect(r);
        result.expect("collection succeeds");
        if check(&samples) || std::time::Instant::now() > until {
            return samples;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Deletes the test's queues when dropped, also after a failed assertion.
pub struct Cleanup(pub Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let steps: Vec<String> = self.0.iter().map(|q| format!("delete:{q}")).collect();
        let _ = Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/src/integrations/rabbitmq/tests/amqp.py"
            ))
            .args(steps)
            .output();
    }
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

// Acceptance (#12): exactly N published, K acked, R dead-lettered, head-message age.
#[test]
fn exact_depth_counters_dead_letters_and_age() {
    let p = dozor_testkit::unique("dzrmq");
    let (work, dlq) = (format!("{p}.work"), format!("{p}.dlq"));
    let _cleanup = Cleanup(vec![work.clone(), dlq.clone()]);
    let (n, k, r) = (7.0, 3.0, 2.0);
    let ts = (now() - 30.0).floor();
    amqp(&[
        format!("declare:{dlq}"),
        format!("declare_dlx:{work}:{dlq}"),
        format!("publish:{work}:{n}:{ts}"),
    ]);
    let mut rmq = Rabbitmq::new(&instance("local", &p), Duration::from_secs(5)).unwrap();
    let w = ["local", "/", work.as_str()];
    let ready =
        |s: &[Sample], q: &str| value(s, "rabbitmq.message.current", &["local", "/", q, "ready"]);
    let s = poll(&mut rmq, |s| {
        ready(s, &work) == Some(n)
            && value(s, "rabbitmq.message.published", &w) == Some(n)
            && value(s, "dozor.rabbitmq.message.oldest.age", &w).is_some()
    });
    assert_eq!(ready(&s, &work), Some(n), "ready after publishing {n}");
    assert_eq!(value(&s, "rabbitmq.message.published", &w), Some(n));
    assert_eq!(
        value(
            &s,
            "rabbitmq.message.current",
            &["local", "/", &work, "unacknowledged"]
        ),
        Some(0.0)
    );
    assert_eq!(value(&s, "rabbitmq.consumer.count", &w), Some(0.0));
    let age =
        value(&s, "dozor.rabbitmq.message.oldest.age", &w).expect("age of a timestamped message");
    assert!(
        (age - (now() - ts)).abs() < 1.0,
        "age {age} vs truth {}",
        now() - ts
    );
    assert_eq!(
        value(
            &s,
            "dozor.rabbitmq.queue.dead_letter",
            &["local", "/", &dlq]
        ),
        Some(1.0),
        "DLQ marked"
    );
    assert_eq!(
        value(&s, "dozor.rabbitmq.queue.dead_letter", &w),
        None,
        "work queue not marked"
    );
    assert_eq!(
        value(&s, "dozor.rabbitmq.overflow.entities", &["local", "queue"]),
        Some(0.0)
    );

    let mut client = amqp_open(&[format!("ack:{work}:{k}"), format!("reject:{work}:{r}")]);
    let d = ["local", "/", dlq.as_str()];
    let s = poll(&mut rmq, |s| {
        ready(s, &work) == Some(n - k - r)
            && value(s, "rabbitmq.message.acknowledged", &w) == Some(k)
            && ready(s, &dlq) == Some(r)
            && value(s, "rabbitmq.message.published", &d) == Some(r)
            && value(s, "dozor.rabbitmq.message.oldest.age", &d).is_some()
    });
    assert_eq!(ready(&s, &work), Some(n - k - r));
    assert_eq!(
        value(&s, "rabbitmq.message.acknowledged", &w),
        Some(k),
        "ack counter +{k}"
    );
    assert_eq!(value(&s, "rabbitmq.message.delivered", &w), Some(k + r));
    assert_eq!(
        value(&s, "dozor.rabbitmq.message.redelivered", &w),
        Some(0.0)
    );
    assert_eq!(
        ready(&s, &dlq),
        Some(r),
        "the DLQ holds exactly the {r} rejected"
    );
    // A dead-lettered message keeps its original timestamp.
    let age = value(&s, "dozor.rabbitmq.message.oldest.age", &d).expect("DLQ age");
    assert!(
        (age - (now() - ts)).abs() < 1.0,
        "DLQ age {age} vs truth {}",
        now() - ts
    );
    // "DLQ not empty" in one expression: the marker times ready.
    let dlq_ready =
        value(&s, "dozor.rabbitmq.queue.dead_letter", &d).unwrap() * ready(&s, &dlq).unwrap();
    assert_eq!(dlq_ready, r);
    drop(client.stdin.take());
    let _ = client.wait();
}

#[test]
fn budget_folds_the_rest_into_other() {
    let p = dozor_testkit::unique("dzrmqb");
    let queues: Vec<String> = (0..4).map(|i| format!("{p}.q{i}")).collect();
    let _cleanup = Cleanup(queues.clone());
    let mut steps: Vec<String> = queues.iter().map(|q| format!("declare:{q}")).collect();
    steps.extend(
        queues
            .iter()
            .enumerate()
            .map(|(i, q)| format!("publish:{q}:{}:0", i + 1)),
    );
    amqp(&steps);
    let mut config = instance("local", &p);
    config.max_series = 2;
    let mut rmq = Rabbitmq::new(&config, Duration::from_secs(5)).unwrap();
    let other = ["local", "/", "_other", "ready"];
    let s = poll(&mut rmq, |s| {
        value(s, "rabbitmq.message.current", &other) == Some(7.0)
    });
    // q0 and q1 (1 and 2 messages) kept; q2 and q3 (3 + 4) folded.
    assert_eq!(
        value(
            &s,
            "rabbitmq.message.current",
            &["local", "/", &queues[1], "ready"]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &s,
            "rabbitmq.message.current",
            &["local", "/", &queues[2], "ready"]
        ),
        None
    );
    assert_eq!(value(&s, "rabbitmq.message.current", &other), Some(7.0));
    assert_eq!(
        value(&s, "dozor.rabbitmq.overflow.entities", &["local", "queue"]),
        Some(2.0)
    );
}

// Per exchange: in and out exactly; what matched no binding is in - out (RabbitMQ 3.10's
// management API did not count these in drop_unroutable here).
#[test]
fn exchange_in_out_and_unroutable() {
    let p = dozor_testkit::unique("dzrmqx");
    let (x, q) = (format!("{p}.x"), format!("{p}.q"));
    let _cleanup = Cleanup(vec![q.clone()]);
    struct Undo(String);
    impl Drop for Undo {
        fn drop(&mut self) {
            // A panic here while the test is already failing would abort the whole test binary.
            if !std::thread::panicking() {
                super::tests::amqp(&[format!("xdelete:{}", self.0)]);
            }
        }
    }
    let _x = Undo(x.clone());
    let (routed, unroutable) = (4.0, 3.0);
    let mut client = amqp_open(&[
        format!("exchange:{x}:{q}:k"),
        format!("xpublish:{x}:k:{routed}"),
        format!("xpublish:{x}:nowhere:{unroutable}"),
    ]);
    let mut rmq = Rabbitmq::new(&instance("local", &p), Duration::from_secs(5)).unwrap();
    let a = |d| ["local", "/", x.as_str(), d];
    let s = poll(&mut rmq, |s| {
        value(s, "dozor.rabbitmq.exchange.messages", &a("in")) == Some(routed + unroutable)
            && value(s, "dozor.rabbitmq.exchange.messages", &a("out")) == Some(routed)
    });
    assert_eq!(
        value(&s, "dozor.rabbitmq.exchange.messages", &a("in")),
        Some(routed + unroutable)
    );
    assert_eq!(
        value(&s, "dozor.rabbitmq.exchange.messages", &a("out")),
        Some(routed)
    );
    assert_eq!(
        value(&s, "rabbitmq.message.current", &["local", "/", &q, "ready"]),
        Some(routed)
    );
    drop(client.stdin.take());
    let _ = client.wait();
}

// head_message_timestamp is the oldest unsettled message: one delivered and not yet acked
// still counts, so the age is that of the older of two messages while it is held.
#[test]
fn oldest_age_counts_unacknowledged_messages() {
    let p = dozor_testkit::unique("dzrmqa");
    let q = format!("{p}.q");
    let _cleanup = Cleanup(vec![q.clone()]);
    let old = (now() - 100.0).floor();
    let new = (now() - 10.0).floor();
    let mut client = amqp_open(&[
        format!("declare:{q}"),
        format!("publish:{q}:1:{old}"),
        format!("publish:{q}:1:{new}"),
        format!("hold:{q}:1"),
    ]);
    let mut rmq = Rabbitmq::new(&instance("local", &p), Duration::from_secs(5)).unwrap();
    let a = ["local", "/", q.as_str()];
    let unacked = ["local", "/", q.as_str(), "unacknowledged"];
    let s = poll(&mut rmq, |s| {
        value(s, "rabbitmq.message.current", &unacked) == Some(1.0)
            && value(s, "rabbitmq.message.delivered", &a) == Some(1.0)
            && value(s, "dozor.rabbitmq.message.oldest.age", &a).is_some()
    });
    assert_eq!(value(&s, "rabbitmq.message.current", &unacked), Some(1.0));
    assert_eq!(
        value(&s, "rabbitmq.message.current", &["local", "/", &q, "ready"]),
        Some(1.0)
    );
    let age = value(&s, "dozor.rabbitmq.message.oldest.age", &a).unwrap();
    assert!(
        (age - (now() - old)).abs() < 1.0,
        "age {age}: the held message's {}, not the ready one's {}",
        now() - old,
        now() - new
    );
    drop(client.stdin.take());
    let _ = client.wait();
}

// Redelivered: K messages nacked with requeue come back at the head and are delivered again.
#[test]
fn redelivered_counts_requeued_messages() {
    let p = dozor_testkit::unique("dzrmqn");
    let q = format!("{p}.q");
    let _cleanup = Cleanup(vec![q.clone()]);
    let (n, k) = (5.0, 2.0);
    let mut client = amqp_open(&[
        format!("declare:{q}"),
        format!("publish:{q}:{n}:0"),
        format!("requeue:{q}:{k}"),
        format!("ack:{q}:{k}"),
    ]);
    let mut rmq = Rabbitmq::new(&instance("local", &p), Duration::from_secs(5)).unwrap();
    let a = ["local", "/", q.as_str()];
    let s = poll(&mut rmq, |s| {
        value(s, "rabbitmq.message.acknowledged", &a) == Some(k)
            && value(s, "dozor.rabbitmq.message.redelivered", &a) == Some(k)
    });
    assert_eq!(value(&s, "dozor.rabbitmq.message.redelivered", &a), Some(k));
    assert_eq!(value(&s, "rabbitmq.message.delivered", &a), Some(2.0 * k));
    assert_eq!(value(&s, "rabbitmq.message.acknowledged", &a), Some(k));
    assert_eq!(
        value(&s, "rabbitmq.message.current", &["local", "/", &q, "ready"]),
        Some(n - k)
    );
    drop(client.stdin.take());
    let _ = client.wait();
}
