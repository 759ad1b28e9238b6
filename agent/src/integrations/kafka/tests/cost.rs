//! The cost of a collection with 100 partitions and 20 groups: requests by API and the agent's
//! CPU per collection, printed for docs/benchmarks-kafka.md. Run by hand:
//! `cargo test --release -p dozor-agent --bin dozor-agent kafka_cost -- --ignored --nocapture`.

use super::{collect, instance, integration, value};
use dozor_testkit::kafka::Broker;
use std::collections::BTreeMap;
use std::time::Instant;

/// CPU time (user + system) of this process, in seconds.
fn self_cpu() -> f64 {
    // utime and stime, fields 14 and 15 of /proc/self/stat, in clock ticks (100 per second).
    proc_cpu("self")
}

fn proc_cpu(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

#[test]
#[ignore = "a benchmark; run by hand"]
fn kafka_cost_100_partitions_20_groups() {
    let broker = Broker::start();
    // 5 topics x 20 partitions, 10 records each; 20 groups, 4 per topic, each committed at 5
    // on every partition of its topic (all lagging, so lag in seconds fetches every one).
    broker.python(
        "a = KafkaAdminClient(bootstrap_servers=B)\n\
         a.create_topics([NewTopic('t%d' % t, 20, 1) for t in range(5)])\n\
         a.close()\n\
         p = KafkaProducer(bootstrap_servers=B)\n\
         for t in range(5):\n\
         \x20   for part in range(20):\n\
         \x20       for i in range(10):\n\
         \x20           p.send('t%d' % t, value=b'x', partition=part)\n\
         p.flush(); p.close()\n\
         for g in range(20):\n\
         \x20   c = KafkaConsumer(bootstrap_servers=B, group_id='g%d' % g, enable_auto_commit=False)\n\
         \x20   t = 't%d' % (g % 5)\n\
         \x20   c.commit({TopicPartition(t, part): OffsetAndMetadata(5, '', -1) for part in range(20)})\n\
         \x20   c.close()\n",
    );
    for lag_seconds in [true, false] {
        let mut config = instance("bench", &broker.bootstrap());
        config.lag_seconds = lag_seconds;
        let mut k = integration(&config);
        let (s, first) = collect(&mut k);
        first.unwrap();
        assert_eq!(
            value(&s, "kafka.consumer_group.lag", &["bench", "g0", "t0", "0"]),
            Some(5.0)
        );
        let first_counts = k.requests().clone();
        let runs = 50;
        let (cpu0, broker0, t0) = (
            self_cpu(),
            proc_cpu(&broker.pid().to_string()),
            Instant::now(),
        );
        for _ in 0..runs {
            collect(&mut k).1.unwrap();
        }
        let (cpu, broker_cpu, wall) = (
            self_cpu() - cpu0,
            proc_cpu(&broker.pid().to_string()) - broker0,
            t0.elapsed(),
        );
        let steady: BTreeMap<_, _> = k
            .requests()
            .iter()
            .map(|(api, n)| (*api, (n - first_counts.get(api).unwrap_or(&0)) / runs))
            .collect();
        println!("lag_seconds={lag_seconds}");
        println!("  first collection requests: {first_counts:?}");
        println!(
            "  steady requests per collection: {steady:?} (total {})",
            steady.values().sum::<u64>()
        );
        println!(
            "  agent CPU per collection: {:.2} ms; broker (noida-db) CPU per collection: {:.2} ms; wall per collection: {:.2} ms ({runs} collections)",
            cpu * 1000.0 / runs as f64,
            broker_cpu * 1000.0 / runs as f64,
            wall.as_secs_f64() * 1000.0 / runs as f64,
        );
    }
}
