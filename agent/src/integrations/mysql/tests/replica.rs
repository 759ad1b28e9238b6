//! A real primary and replica of the test's own: the heartbeat delay grows at wall-clock speed
//! while the replica's SQL thread is stopped and the primary is idle, where
//! `Seconds_Behind_Master` reads NULL, and falls back once replication runs again.

use super::server::{Server, poll};
use super::{TIMEOUT, collect, instance, value};
use crate::integrations::mysql::Mysql;
use crate::integrations::mysql::config::{Dsn, HeartbeatConfig};
use mysql::prelude::Queryable;
use std::time::{Duration, Instant};

const DELAY: &str = "dozor.mysql.replica.heartbeat.delay";

/// Starts both servers (in parallel) and replication between them.
fn pair() -> (Server, Server) {
    let primary = std::thread::spawn(|| Server::start(1));
    let replica = Server::start(2);
    let primary = primary.join().unwrap();
    primary.sql(
        "CREATE USER 'repl'@'%' IDENTIFIED BY 'repl'; GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%'; CREATE DATABASE monitoring",
    );
    replica.sql(&format!(
        "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='repl', MASTER_PASSWORD='repl', MASTER_USE_GTID=slave_pos; START SLAVE",
        primary.port
    ));
    let replicated = poll(Duration::from_secs(20), || {
        let dbs: Vec<String> = replica.connect().query("SHOW DATABASES").ok()?;
        dbs.iter().any(|d| d == "monitoring").then_some(())
    });
    assert!(
        replicated.is_some(),
        "replication did not start: see {}",
        replica.dir().display()
    );
    (primary, replica)
}

fn with_heartbeat(name: &str, dsn: &str, primary_dsn: Option<String>) -> Mysql {
    let mut config = instance(name, dsn);
    config.heartbeat = HeartbeatConfig {
        enabled: true,
        table: "dozor_heartbeat".into(),
        primary_dsn: primary_dsn.map(Dsn),
    };
    Mysql::new(&config, TIMEOUT).unwrap()
}

#[test]
fn heartbeat_delay_grows_while_the_sql_thread_is_stopped() {
    let (primary, replica) = pair();
    let mut m = with_heartbeat(
        "replica",
        &replica.dsn("monitoring"),
        Some(primary.dsn("monitoring")),
    );

    // The first run only writes (and creates the table on the primary); once it is applied,
    // the replica reads as caught up.
    let (first, result) = collect(&mut m);
    result.unwrap();
    assert_eq!(value(&first, DELAY, &[]), None);
    assert_eq!(
        value(&first, "dozor.mysql.replica.running", &["io"]),
        Some(1.0)
    );
    assert_eq!(
        value(&first, "dozor.mysql.replica.running", &["sql"]),
        Some(1.0)
    );
    let caught_up = poll(Duration::from_secs(10), || {
        let (s, r) = collect(&mut m);
        r.unwrap();
        value(&s, DELAY, &[]).filter(|d| *d == 0.0)
    });
    assert!(caught_up.is_some(), "the replica never applied a heartbeat");

    // Stop applying; the primary stays idle apart from the agent's heartbeats.
    replica.sql("STOP SLAVE SQL_THREAD");
    let (s, r) = collect(&mut m);
    r.unwrap();
    assert_eq!(
        value(&s, "dozor.mysql.replica.running", &["sql"]),
        Some(0.0)
    );
    assert_eq!(value(&s, "dozor.mysql.replica.running", &["io"]), Some(1.0));
    // Seconds_Behind_Master is NULL: the series is absent rather than 0.
    assert_eq!(value(&s, "mysql.replica.time_behind_source", &[]), None);

    let mut readings = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(500));
        let (s, r) = collect(&mut m);
        r.unwrap();
        readings.push((Instant::now(), value(&s, DELAY, &[]).unwrap()));
        assert_eq!(value(&s, "mysql.replica.time_behind_source", &[]), None);
    }
    let (t0, d0) = readings[0];
    let (t1, d1) = *readings.last().unwrap();
    let rate = (d1 - d0) / (t1 - t0).as_secs_f64();
    eprintln!(
        "heartbeat delay {d0:.3} s -> {d1:.3} s over {:.3} s of wall clock: rate {rate:.4}",
        (t1 - t0).as_secs_f64()
    );
    assert!(
        (0.9..=1.1).contains(&rate),
        "delay grew at {rate} s per s: {readings:?}"
    );
    assert!(readings.windows(2).all(|w| w[1].1 > w[0].1), "{readings:?}");

    // Applying again: back under a second within a few runs.
    replica.sql("START SLAVE SQL_THREAD");
    let restarted = Instant::now();
    let recovered = poll(Duration::from_secs(10), || {
        let (s, r) = collect(&mut m);
        r.unwrap();
        value(&s, DELAY, &[]).filter(|d| *d < 1.0)
    });
    eprintln!(
        "delay back to {recovered:?} s after {:?}",
        restarted.elapsed()
    );
    assert!(
        recovered.is_some(),
        "the delay did not fall after START SLAVE SQL_THREAD"
    );
    let (s, _) = collect(&mut m);
    assert!(value(&s, "mysql.replica.time_behind_source", &[]).is_some_and(|v| v < 2.0));
    assert_eq!(
        value(&s, "dozor.mysql.replica.running", &["sql"]),
        Some(1.0)
    );

    // The IO thread stopped instead: heartbeats no longer even arrive, and the delay grows.
    replica.sql("STOP SLAVE IO_THREAD");
    let (s, r) = collect(&mut m);
    r.unwrap();
    assert_eq!(value(&s, "dozor.mysql.replica.running", &["io"]), Some(0.0));
    let grown = poll(Duration::from_secs(5), || {
        let (s, r) = collect(&mut m);
        r.unwrap();
        value(&s, DELAY, &[]).filter(|d| *d >= 1.0)
    });
    assert!(
        grown.is_some(),
        "the delay did not grow with the IO thread stopped"
    );
    replica.sql("START SLAVE IO_THREAD");
    let recovered = poll(Duration::from_secs(10), || {
        let (s, r) = collect(&mut m);
        r.unwrap();
        value(&s, DELAY, &[]).filter(|d| *d < 1.0)
    });
    assert!(
        recovered.is_some(),
        "the delay did not fall after START SLAVE IO_THREAD"
    );

    // Without primary_dsn: the primary's own instance writes, the replica's only reads.
    let mut writer = with_heartbeat("primary", &primary.dsn("monitoring"), None);
    let mut reader = with_heartbeat("replica-read", &replica.dsn("monitoring"), None);
    let (s, r) = collect(&mut writer);
    r.unwrap();
    assert_eq!(value(&s, DELAY, &[]), None);
    let (s, r) = collect(&mut reader);
    r.unwrap();
    let d = value(&s, DELAY, &[]).unwrap();
    assert!(d < 5.0, "fallback delay {d}");

    // The primary goes away: the replica's delay is still read and recorded, and the error
    // says the heartbeat's primary is unreachable.
    drop(primary);
    let (s, r) = collect(&mut m);
    let e = r.unwrap_err();
    assert_eq!(e.kind, "connect", "{e}");
    assert!(
        e.message
            .starts_with("instance replica (heartbeat primary): cannot connect to root@127.0.0.1:"),
        "{e}"
    );
    assert!(value(&s, DELAY, &[]).is_some());
    assert_eq!(value(&s, "dozor.mysql.up", &[]), Some(1.0));
}

/// Regression: #11. MariaDB's heartbeat shares the design of PostgreSQL's: with the SQL thread
/// stopped, the delay goes on across a restart (the integration dropped between runs, as
/// SIGKILL leaves it), in a one-shot run that must not change the state, and, seeded from the
/// servers, without any state.
#[test]
fn heartbeat_delay_survives_restarts_and_one_shot_runs() {
    let (primary, replica) = pair();
    let state = tempfile::tempdir().unwrap();
    let agent = |dir: &std::path::Path, save: bool| {
        let m = with_heartbeat(
            "replica",
            &replica.dsn("monitoring"),
            Some(primary.dsn("monitoring")),
        );
        m.keep_state(dir, save)
    };
    let mut first = agent(state.path(), true);
    let caught_up = poll(Duration::from_secs(10), || {
        let (s, r) = collect(&mut first);
        r.unwrap();
        value(&s, DELAY, &[]).filter(|d| *d == 0.0)
    });
    assert!(caught_up.is_some(), "the replica never applied a heartbeat");
    replica.sql("STOP SLAVE SQL_THREAD");
    let stopped = Instant::now();
    // Collections every 500 ms; the delay is the age of the first heartbeat written since.
    for _ in 0..6 {
        collect(&mut first).1.unwrap();
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(first);
    std::thread::sleep(Duration::from_secs(2));
    let within_a_tenth = |what: &str, m: &mut Mysql| {
        let (s, r) = collect(m);
        r.unwrap();
        let d = value(&s, DELAY, &[]).expect("a delay");
        let since = stopped.elapsed().as_secs_f64();
        eprintln!("{what}: delay {d:.3} s, SQL thread stopped {since:.3} s ago");
        assert!(
            (d - since).abs() <= 0.1 * since,
            "{what}: {d} s against {since} s"
        );
    };
    within_a_tenth("restarted", &mut agent(state.path(), true));
    let file = state.path().join("heartbeat/mysql-replica.json");
    let before = std::fs::read(&file).unwrap();
    within_a_tenth("one-shot", &mut agent(state.path(), false));
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "the one-shot run wrote the state"
    );
    let empty = tempfile::tempdir().unwrap();
    within_a_tenth("without state", &mut agent(empty.path(), true));
    replica.sql("START SLAVE SQL_THREAD");
}
