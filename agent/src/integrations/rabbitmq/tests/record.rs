//! Records the series of a real run with a consumer that stops, as the input of a promtool
//! test (#12: "a stopped consumer makes the backlog alert fire in a promtool test built from
//! series recorded in a real run"). Ignored by default; run it to regenerate
//! alerts/tests/rabbitmq-recorded.test.yml:
//!
//! `cargo test -p dozor-agent --bin dozor-agent rabbitmq::tests::record -- --ignored`

use super::{Cleanup, amqp, instance, value};
use crate::integrations::Integration;
use crate::integrations::rabbitmq::Rabbitmq;
use dozor_metrics::sample::Recorder;
use std::time::{Duration, Instant};

/// Seconds of the run, the consumer's share, messages a second.
const TOTAL: u64 = 45;
const STOP: u64 = 10;
const RATE: u64 = 20;

#[test]
#[ignore = "writes alerts/tests/rabbitmq-recorded.test.yml from a real run (45 s)"]
fn record_stopped_consumer() {
    let p = dozor_testkit::unique("dzrmqr");
    let work = format!("{p}.work");
    let _cleanup = Cleanup(vec![work.clone()]);
    amqp(&[format!("declare:{work}")]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/integrations/rabbitmq/tests/amqp.py"
    );
    let run = std::process::Command::new("python3")
        .arg(script)
        .arg(format!("run:{work}:{RATE}:{STOP}:{TOTAL}"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut rmq = Rabbitmq::new(&instance("orders", &p), Duration::from_secs(5)).unwrap();
    let (mut ready, mut consumers) = (Vec::new(), Vec::new());
    let start = Instant::now();
    // One collection a second, on the second.
    for i in 0..TOTAL {
        let next = start + Duration::from_secs(i + 1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        let mut rec = Recorder::new();
        rmq.collect(&mut rec).expect("collection succeeds");
        let s = rec.take();
        let a = ["orders", "/", work.as_str()];
        ready.push(
            value(
                &s,
                "rabbitmq.message.current",
                &["orders", "/", &work, "ready"],
            )
            .unwrap(),
        );
        consumers.push(value(&s, "rabbitmq.consumer.count", &a).unwrap());
    }
    let out = run.wait_with_output().unwrap();
    let summary = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let join = |v: &[f64]| {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let last = *ready.last().unwrap();
    let labels = r#"job="dozor-agent", instance="mq1", site="hq", role="server", rabbitmq_instance="orders", rabbitmq_vhost_name="/", rabbitmq_queue_name="work""#;
    let yml = format!(
        r#"# promtool test rules alerts/tests/rabbitmq-recorded.test.yml
#
# GENERATED from a real run, do not edit: `cargo test -p dozor-agent --bin dozor-agent
# rabbitmq::tests::record -- --ignored` (agent/src/integrations/rabbitmq/tests/record.rs).
# RabbitMQ 3.10 on 127.0.0.1; a pika publisher sent {RATE} messages a second for {TOTAL} s
# into one queue while a pika consumer acked them, cancelled after {STOP} s ({summary}).
# The rabbitmq integration collected once a second; each collection is one sample below, its
# values exactly as recorded (rabbitmq.message.current{{state=ready}} and
# rabbitmq.consumer.count). Time is scaled: one recorded second per minute of the test, the
# queue renamed "work", the agent's labels added as the collector adds them.
rule_files:
  - ../rabbitmq.rules.yml

evaluation_interval: 1m

tests:
  - name: A stopped consumer makes RabbitmqQueueBacklogGrowing fire (recorded run)
    interval: 1m
    input_series:
      - series: 'rabbitmq_message_current{{{labels}, state="ready"}}'
        values: '{ready}'
      - series: 'rabbitmq_consumer_count{{{labels}}}'
        values: '{consumers}'
    alert_rule_test:
      - eval_time: {STOP}m
        alertname: RabbitmqQueueBacklogGrowing
        exp_alerts: []
      - eval_time: {end}m
        alertname: RabbitmqQueueBacklogGrowing
        exp_alerts:
          - exp_labels:
              severity: warning
              job: dozor-agent
              instance: mq1
              site: hq
              role: server
              rabbitmq_instance: orders
              rabbitmq_vhost_name: /
              rabbitmq_queue_name: work
              state: ready
            exp_annotations:
              summary: A RabbitMQ queue's backlog has been growing for 10 minutes.
              description: 'Queue work (vhost /) on orders holds {last} ready messages and keeps growing: its consumers do not keep up.'
              runbook_url: https://github.com/dozor-observability/dozor/blob/main/docs/runbooks/rabbitmq.md#rabbitmqqueuebackloggrowing
"#,
        ready = join(&ready),
        consumers = join(&consumers),
        end = TOTAL - 1,
    );
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../alerts/tests/rabbitmq-recorded.test.yml"
    );
    std::fs::write(path, yml).unwrap();
}
