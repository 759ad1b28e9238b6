//! A real streaming replica of a cluster of the test's own: with replay paused and the primary
//! idle, the heartbeat delay grows at wall-clock speed; resumed, it falls under a second;
//! without the heartbeat, the last-replay age cannot tell idle from broken; stopped, the
//! replica disappears from the primary's view.

use super::cluster::Cluster;
use super::*;
use std::time::Instant;

fn gauge(p: &mut Postgresql, metric: &str, attributes: &[&str]) -> Option<f64> {
    let (samples, result) = collect(p);
    result.expect("collection");
    value(&samples, metric, attributes)
}

/// Collects every 500 ms (a short agent interval) for `span`; returns the first and last
/// values of `metric` with the wall-clock time between them.
fn growth(
    p: &mut Postgresql,
    metric: &str,
    attributes: &[&str],
    span: Duration,
) -> (f64, f64, f64) {
    let started = Instant::now();
    let first = gauge(p, metric, attributes).expect("first value");
    let mut last = first;
    while started.elapsed() < span {
        std::thread::sleep(Duration::from_millis(500));
        last = gauge(p, metric, attributes).expect("value");
    }
    (first, last, started.elapsed().as_secs_f64())
}

fn set_replay(replica: &Cluster, paused: bool) {
    let mut admin = replica.admin();
    let f = if paused {
        "pg_wal_replay_pause"
    } else {
        "pg_wal_replay_resume"
    };
    admin.batch_execute(&format!("SELECT {f}()")).unwrap();
    let want = if paused { "paused" } else { "not paused" };
    poll(Duration::from_secs(10), || {
        let state: String = admin
            .query_one("SELECT pg_get_wal_replay_pause_state()", &[])
            .unwrap()
            .get(0);
        (state == want).then_some(())
    })
    .expect("replay state changes");
}

#[test]
fn replica_delay_is_true_when_the_primary_is_idle() {
    let primary = Cluster::primary("", &[]);
    let replica = primary.replica("replica1");
    let mut on_primary = integration(&instance("main", &primary.dsn()));
    let streaming = poll(Duration::from_secs(20), || {
        let lag = &["main", "replica1", "replay"];
        gauge(&mut on_primary, "postgresql.replication.data_delay", lag)
    });
    assert!(streaming.is_some(), "the primary never saw its replica");
    let (samples, _) = collect(&mut on_primary);
    assert_eq!(
        value(&samples, "dozor.postgresql.in_recovery", &["main"]),
        Some(0.0)
    );
    for op in ["write", "flush", "replay"] {
        assert!(
            value(&samples, "postgresql.wal.lag", &["main", "replica1", op]).is_some(),
            "{op}: {:?}",
            samples
                .iter()
                .filter(|s| s.metric.name.contains("wal"))
                .map(|s| (&s.attributes, s.value))
                .collect::<Vec<_>>()
        );
        assert!(
            value(
                &samples,
                "postgresql.replication.data_delay",
                &["main", "replica1", op]
            )
            .is_some()
        );
    }

    // Without the heartbeat: the age of the last replayed transaction.
    let mut plain = integration(&instance("plain", &replica.dsn()));
    let (samples, result) = collect(&mut plain);
    result.unwrap();
    assert_eq!(
        value(&samples, "dozor.postgresql.in_recovery", &["plain"]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "dozor.postgresql.replica.wal_receiver.up",
            &["plain"]
        ),
        Some(1.0)
    );
    // One transaction so there is a replayed commit time at all, then an idle primary.
    primary
        .admin()
        .batch_execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
        .unwrap();
    poll(Duration::from_secs(10), || {
        gauge(
            &mut plain,
            "dozor.postgresql.replica.last_replay_age",
            &["plain"],
        )
    })
    .expect("a replayed transaction");
    let age = "dozor.postgresql.replica.last_replay_age";
    let (a0, a1, wall) = growth(&mut plain, age, &["plain"], Duration::from_secs(2));
    eprintln!(
        "no heartbeat, replay running, primary idle: last_replay_age {a0:.2} -> {a1:.2} s in {wall:.2} s"
    );
    assert!(
        a1 - a0 > 0.8 * wall,
        "the age grows while merely idle: a false alarm source"
    );

    // With the heartbeat written through the primary and read on the replica.
    let mut config = instance("replica1", &replica.dsn());
    config.heartbeat.enabled = true;
    config.heartbeat.primary_dsn = Some(Dsn(primary.dsn()));
    let mut hb = integration(&config);
    let delay = "dozor.postgresql.replica.heartbeat.delay";
    let settled = poll(Duration::from_secs(10), || {
        gauge(&mut hb, delay, &["replica1"]).filter(|d| *d < 1.0)
    });
    assert!(
        settled.is_some(),
        "heartbeat delay under 1 s while replaying"
    );

    set_replay(&replica, true);
    let (d0, d1, wall) = growth(&mut hb, delay, &["replica1"], Duration::from_secs(5));
    let ratio = (d1 - d0) / wall;
    eprintln!(
        "heartbeat, replay paused: delay {d0:.3} -> {d1:.3} s over {wall:.3} s wall clock, ratio {ratio:.3}"
    );
    assert!(
        (0.9..=1.1).contains(&ratio),
        "delay grows at {ratio} x wall clock"
    );
    let (samples, _) = collect(&mut hb);
    assert_eq!(
        value(
            &samples,
            "dozor.postgresql.replica.replay_paused",
            &["replica1"]
        ),
        Some(1.0)
    );
    // Received but not replayed: positions apart.
    let received = value(
        &samples,
        "dozor.postgresql.wal.position",
        &["replica1", "receive"],
    )
    .unwrap();
    let replayed = value(
        &samples,
        "dozor.postgresql.wal.position",
        &["replica1", "replay"],
    )
    .unwrap();
    assert!(
        received > replayed,
        "received {received} replayed {replayed}"
    );

    set_replay(&replica, false);
    let back = poll(Duration::from_secs(10), || {
        gauge(&mut hb, delay, &["replica1"]).filter(|d| *d < 1.0)
    });
    eprintln!("heartbeat, replay resumed: delay {back:?} s");
    assert!(back.is_some(), "delay back under 1 s after resuming");

    // The other layout: the primary's instance writes, the replica's only reads the newest
    // heartbeat, whose age includes the time since the primary's last collection.
    let mut writer_config = instance("main", &primary.dsn());
    writer_config.heartbeat.enabled = true;
    let mut writer = integration(&writer_config);
    let mut reader_config = instance("reader", &replica.dsn());
    reader_config.heartbeat.enabled = true;
    let mut reader = integration(&reader_config);
    collect(&mut writer).1.unwrap();
    let fresh = poll(Duration::from_secs(10), || {
        gauge(&mut reader, delay, &["reader"]).filter(|d| *d < 1.0)
    });
    assert!(fresh.is_some(), "reader sees the primary's heartbeat");
    std::thread::sleep(Duration::from_millis(1500));
    let stale = gauge(&mut reader, delay, &["reader"]).unwrap();
    assert!(stale >= 1.5, "without a new write the age grows: {stale}");

    // Stop the replica: the primary no longer reports it; the replica's instance is down.
    replica.stop();
    let gone = poll(Duration::from_secs(20), || {
        let (samples, _) = collect(&mut on_primary);
        let count = value(&samples, "dozor.postgresql.replication.replicas", &["main"]);
        let lag = value(
            &samples,
            "postgresql.wal.lag",
            &["main", "replica1", "replay"],
        );
        (count == Some(0.0) && lag.is_none()).then_some(())
    });
    assert!(
        gone.is_some(),
        "the primary still reports the stopped replica"
    );
    let (samples, result) = collect(&mut hb);
    assert_eq!(result.unwrap_err().kind, "connect");
    assert_eq!(
        value(&samples, "dozor.postgresql.up", &["replica1"]),
        Some(0.0)
    );
}

/// Asserts that `delay` is within 10% of `since`, the time since replay stopped.
fn within_a_tenth(what: &str, delay: f64, since: f64) {
    eprintln!("{what}: delay {delay:.3} s, replay stopped {since:.3} s ago");
    assert!(
        (delay - since).abs() <= 0.1 * since,
        "{what}: delay {delay:.3} s, but replay stopped {since:.3} s ago"
    );
}

/// Regression: #11. The delay of a stalled replica goes on across an agent restart (the
/// integration dropped between two runs, as SIGKILL leaves it, and made again), in a one-shot
/// run of the real binary after the agent was killed (which must not change the agent's
/// state), and, seeded from the servers, for an agent without any state.
#[test]
fn replica_delay_survives_restarts_and_one_shot_runs() {
    let primary = Cluster::primary("", &[]);
    let replica = primary.replica("replica2");
    let state = tempfile::tempdir().unwrap();
    let mut config = instance("replica2", &replica.dsn());
    config.heartbeat.enabled = true;
    config.heartbeat.primary_dsn = Some(Dsn(primary.dsn()));
    let delay = "dozor.postgresql.replica.heartbeat.delay";
    let agent = |dir: &std::path::Path, save: bool| integration(&config).keep_state(dir, save);
    let mut first = agent(state.path(), true);
    // Until the replica has replayed one of this agent's heartbeats.
    let mut on_replica = replica.admin();
    let replayed = poll(Duration::from_secs(30), || {
        gauge(&mut first, delay, &["replica2"]);
        let sql = "SELECT count(*) FROM dozor_heartbeat WHERE id = 'replica2'";
        let rows = on_replica.query_one(sql, &[]).ok();
        rows.filter(|r| r.get::<_, i64>(0) > 0)
    });
    assert!(replayed.is_some(), "the replica never replayed a heartbeat");
    let settled = poll(Duration::from_secs(10), || {
        gauge(&mut first, delay, &["replica2"]).filter(|d| *d < 1.0)
    });
    assert!(
        settled.is_some(),
        "heartbeat delay under 1 s while replaying"
    );

    set_replay(&replica, true);
    let stopped = Instant::now();
    growth(&mut first, delay, &["replica2"], Duration::from_secs(3));
    drop(first);
    std::thread::sleep(Duration::from_secs(2));

    let mut restarted = agent(state.path(), true);
    let d = gauge(&mut restarted, delay, &["replica2"]).expect("a delay after the restart");
    within_a_tenth("restarted", d, stopped.elapsed().as_secs_f64());
    drop(restarted);

    // The real binary, once, on the same state directory: it reads the list, never writes it.
    let file = std::fs::read_dir(state.path().join("heartbeat"))
        .unwrap()
        .next()
        .expect("a state file")
        .unwrap()
        .path();
    let before = std::fs::read(&file).unwrap();
    let yaml = state.path().join("agent.yaml");
    std::fs::write(
        &yaml,
        format!(
            "agent: {{state_dir: \"{}\"}}\nexporters: {{otlp: {{enabled: false}}}}\nintegrations:\n  host: {{enabled: false}}\n  postgresql:\n    enabled: true\n    instances:\n      - name: replica2\n        dsn: \"{}\"\n        statements: {{enabled: false}}\n        heartbeat: {{enabled: true, primary_dsn: \"{}\"}}\n",
            state.path().display(),
            replica.dsn(),
            primary.dsn()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(dozor_testkit::bin("dozor-agent"))
        .args(["collect", "--once", "--format", "json", "--config"])
        .arg(&yaml)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let once = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["name"] == delay)
        .and_then(|v| v["value"].as_f64())
        .unwrap_or_else(|| panic!("no {delay} in:\n{text}"));
    within_a_tenth("collect --once", once, stopped.elapsed().as_secs_f64());
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "collect --once wrote the state"
    );

    // No state at all: seeded from the servers, an upper bound by at most one interval.
    let empty = tempfile::tempdir().unwrap();
    let d = gauge(&mut agent(empty.path(), true), delay, &["replica2"]).expect("a delay");
    within_a_tenth("without state", d, stopped.elapsed().as_secs_f64());
    set_replay(&replica, false);
}

/// Regression: #11. A primary's and a replica's instance of one agent creating the missing
/// heartbeat table at the same moment: neither fails.
#[test]
fn instances_racing_to_create_the_heartbeat_table_both_succeed() {
    let server = dozor_testkit::pg::Database::create("dozor_hb_race");
    let mut failures = Vec::new();
    for round in 0..20 {
        let table = format!("hb_race_{round}");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
        let writers: Vec<_> = (0..4)
            .map(|i| {
                let (barrier, dsn, table) = (barrier.clone(), server.dsn(), table.clone());
                std::thread::spawn(move || {
                    let mut client = postgres::Client::connect(&dsn, postgres::NoTls).unwrap();
                    let mut writer = crate::integrations::postgresql::heartbeat::Writer::new(
                        &table,
                        &format!("w{i}"),
                    );
                    barrier.wait();
                    writer.write(&mut client, "race", "postgres").map(|_| ())
                })
            })
            .collect();
        for w in writers {
            if let Err(e) = w.join().unwrap() {
                failures.push(format!("round {round}: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
