//! Each way an instance can be misconfigured gives an error naming the instance and the fix,
//! records what can still be recorded, and leaves the other integrations running.

use super::cluster::{Cluster, free_port};
use super::*;
use crate::scheduler;
use dozor_metrics::sample::ScopeBatch;
use dozor_testkit::pg::Database;

#[test]
fn unreachable_server_is_down_with_a_connect_error() {
    let port = free_port();
    let mut p = integration(&instance(
        "gone",
        &format!("host=127.0.0.1 port={port} user=dozor password=hunter2"),
    ));
    let (samples, result) = collect(&mut p);
    let e = result.unwrap_err();
    eprintln!("{e}");
    assert_eq!(e.kind, "connect");
    assert!(
        e.message
            .starts_with("instance gone: cannot connect to host=127.0.0.1"),
        "{e}"
    );
    assert!(
        e.message.contains("check that PostgreSQL runs there"),
        "{e}"
    );
    assert!(!e.message.contains("hunter2"), "{e}");
    assert_eq!(value(&samples, "dozor.postgresql.up", &["gone"]), Some(0.0));
    assert_eq!(samples.len(), 1);
}

/// Regression: #11. A missing optional extension is not a failure: the rest is collected, the
/// run succeeds, no error is counted and `pg_stat_statements` is no source that failed (it is
/// logged once, at WARN, with the fix); `collect --once` exits 0.
#[test]
fn missing_pg_stat_statements_is_no_failure_and_the_rest_is_collected() {
    // Created in a database but not preloaded (the shared server does not preload it).
    let database = Database::create("dozor_pgss");
    let db = database.name().to_string();
    database
        .admin()
        .batch_execute("CREATE EXTENSION pg_stat_statements")
        .unwrap();
    let mut config = instance("shared", &format!("{SHARED} dbname={db}"));
    config.statements.enabled = true;
    let mut p = integration(&config);
    let (samples, result) = collect(&mut p);
    result.unwrap();
    assert_eq!(
        value(&samples, "dozor.postgresql.up", &["shared"]),
        Some(1.0)
    );
    assert!(value(&samples, "postgresql.commits", &["shared", &db]).is_some());
    let source = "dozor.agent.scrape.source.success";
    assert_eq!(
        value(
            &samples,
            source,
            &["postgresql/shared", "pg_stat_statements"]
        ),
        None
    );
    assert_eq!(
        value(&samples, source, &["postgresql/shared", "pg_stat_database"]),
        Some(1.0)
    );

    // The binary, once: exit code 0, no error counted, the fix on stderr once.
    let yaml = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        yaml.path(),
        format!(
            "integrations:\n  host: {{enabled: false}}\n  postgresql:\n    enabled: true\n    instances:\n      - {{name: shared, dsn: \"{SHARED} dbname={db}\"}}\n"
        ),
    )
    .unwrap();
    let out = std::process::Command::new(dozor_testkit::bin("dozor-agent"))
        .args(["collect", "--once", "--config"])
        .arg(yaml.path())
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        !stdout.contains("dozor_agent_scrape_errors_total"),
        "an error was counted:\n{stdout}"
    );
    assert!(stdout.contains("postgresql_commits_total"), "{stdout}");
    assert_eq!(
        stderr.matches("pg_stat_statements not usable").count(),
        1,
        "{stderr}"
    );

    let (samples, result) = collect(&mut p);
    result.unwrap();
    // The session runs under statement_timeout at 80% of the 5 s timeout, named.
    let client = p.conn.client.as_mut().expect("connected");
    let setting = |c: &mut postgres::Client, name: &str| -> String {
        c.query_one(&format!("SHOW {name}"), &[]).unwrap().get(0)
    };
    assert_eq!(setting(client, "statement_timeout"), "4s");
    assert_eq!(setting(client, "application_name"), "dozor-agent");
    assert!(value(&samples, "postgresql.commits", &["shared", &db]).is_some());
}

#[test]
fn password_grants_and_statements_on_a_cluster_of_our_own() {
    let cluster = Cluster::primary(
        "shared_preload_libraries = 'pg_stat_statements'\npassword_encryption = 'scram-sha-256'",
        &["pwuser"],
    );
    let mut admin = cluster.admin();
    admin
        .batch_execute(
            "CREATE ROLE pwuser LOGIN PASSWORD 'right-secret'; \
             CREATE ROLE nomon LOGIN; \
             CREATE EXTENSION pg_stat_statements; \
             CREATE TABLE t AS SELECT generate_series(1, 100) AS x",
        )
        .unwrap();
    let base = format!("host=127.0.0.1 port={} dbname=postgres", cluster.port);

    // Wrong password.
    let mut p = integration(&instance(
        "auth",
        &format!("{base} user=pwuser password=wrong-secret"),
    ));
    let (samples, result) = collect(&mut p);
    let e = result.unwrap_err();
    eprintln!("{e}");
    assert_eq!(e.kind, "auth");
    assert!(
        e.message
            .starts_with("instance auth: password authentication failed for user \"pwuser\""),
        "{e}"
    );
    assert!(
        e.message.contains("check the role and password in the DSN"),
        "{e}"
    );
    assert!(!e.message.contains("wrong-secret"), "{e}");
    assert_eq!(value(&samples, "dozor.postgresql.up", &["auth"]), Some(0.0));
    // No password at all.
    let (_, result) = collect(&mut integration(&instance(
        "auth",
        &format!("{base} user=pwuser"),
    )));
    let e = result.unwrap_err();
    eprintln!("{e}");
    assert_eq!(e.kind, "auth", "{e}");
    // The right one.
    let (_, result) = collect(&mut integration(&instance(
        "auth",
        &format!("{base} user=pwuser password=right-secret"),
    )));
    assert_eq!(
        result.unwrap_err().kind,
        "permission",
        "pwuser has no pg_monitor either"
    );

    // A role without pg_monitor: what it can see is recorded, and every run says what to grant.
    let mut p = integration(&instance("nomon", &format!("{base} user=nomon")));
    for _ in 0..2 {
        let (samples, result) = collect(&mut p);
        let e = result.unwrap_err();
        eprintln!("{e}");
        assert_eq!(e.kind, "permission");
        assert!(
            e.message
                .starts_with("instance nomon: role nomon lacks pg_monitor"),
            "{e}"
        );
        assert!(e.message.ends_with("GRANT pg_monitor TO nomon"), "{e}");
        assert_eq!(
            value(&samples, "dozor.postgresql.up", &["nomon"]),
            Some(1.0)
        );
        assert!(value(&samples, "postgresql.commits", &["nomon", "postgres"]).is_some());
    }
    admin.batch_execute("GRANT pg_monitor TO nomon").unwrap();
    let mut config = instance("nomon", &format!("{base} user=nomon"));
    config.statements.enabled = true;
    config.statements.top_n = 3;
    let mut p = integration(&config);
    for _ in 0..5 {
        admin
            .batch_execute("SELECT count(*) FROM t; SELECT 1; SELECT now()")
            .unwrap();
    }
    let (samples, result) = collect(&mut p);
    result.unwrap();
    let calls: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.metric.name == "dozor.postgresql.statement.calls")
        .collect();
    assert_eq!(calls.len(), 4, "top 3 and other: {calls:?}");
    assert!(calls.iter().any(|s| s.attributes[2].1 == "other"));
    assert!(calls.iter().all(|s| s.attributes[0].1 == "nomon"));
    // Statement time is in seconds, and every statement's calls add up to the total.
    let total: f64 = calls.iter().map(|s| s.value).sum();
    let all: f64 = admin
        .query_one("SELECT sum(calls)::float8 FROM pg_stat_statements", &[])
        .unwrap()
        .get(0);
    assert!(total <= all && total > 0.0, "{total} of {all}");

    // Heartbeat on a primary by a role without CREATE on the schema: refused until the
    // table exists and is granted, as the runbook says.
    let mut config = instance("hb", &format!("{base} user=nomon"));
    config.heartbeat.enabled = true;
    let mut p = integration(&config);
    let e = collect(&mut p).1.unwrap_err();
    eprintln!("{e}");
    assert_eq!(e.kind, "permission");
    assert!(
        e.message
            .contains("GRANT SELECT, INSERT, UPDATE ON dozor_heartbeat TO nomon"),
        "{e}"
    );
    admin
        .batch_execute(
            "CREATE TABLE dozor_heartbeat (id text PRIMARY KEY, ts timestamptz NOT NULL); \
             GRANT SELECT, INSERT, UPDATE ON dozor_heartbeat TO nomon",
        )
        .unwrap();
    collect(&mut p).1.unwrap();
    let rows = admin.query("SELECT id FROM dozor_heartbeat", &[]).unwrap();
    assert_eq!(rows.len(), 1);

    // Table statistics, when asked for: the largest tables of the DSN's database.
    let mut config = instance("tables", &format!("{base} user=nomon"));
    config.table_stats = true;
    config.max_tables = 2; // t and dozor_heartbeat
    let (samples, result) = collect(&mut integration(&config));
    result.unwrap();
    let table = ["tables", "postgres", "public.t"];
    assert!(value(&samples, "postgresql.table.size", &table).unwrap() > 0.0);
    let live = ["tables", "postgres", "public.t", "live"];
    assert!(value(&samples, "postgresql.rows", &live).is_some());
    let ins = ["tables", "postgres", "public.t", "ins"];
    // The creating session publishes its counts later (rate-limited): only the series is sure.
    assert!(value(&samples, "postgresql.operations", &ins).is_some());
}

/// A failing instance does not hold up a healthy one, nor another integration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_instance_leaves_the_others_running() {
    let config = Config {
        enabled: true,
        instances: vec![
            instance(
                "bad",
                &format!("host=127.0.0.1 port={} user=postgres", free_port()),
            ),
            instance("good", &format!("{SHARED} dbname=postgres")),
        ],
        ..Config::default()
    };
    let ctx = Context::for_tests(Duration::from_millis(200), Duration::from_secs(2));
    let mut scheduled = config.build(&ctx);
    scheduled.push(crate::integrations::Scheduled {
        integration: Box::new(crate::integrations::demo::Demo::new(&Default::default())),
        interval: Duration::from_millis(200),
        timeout: Duration::from_secs(2),
    });
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<ScopeBatch>>(1024);
    let tasks = scheduler::spawn_all(scheduled, tx);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for t in &tasks {
        t.abort();
    }
    let mut batches = Vec::new();
    while let Ok(b) = rx.try_recv() {
        batches.extend(b);
    }
    let samples: Vec<Sample> = batches.into_iter().flat_map(|b| b.samples).collect();
    let ups: Vec<f64> = samples
        .iter()
        .filter(|s| s.metric.name == "dozor.postgresql.up")
        .filter(|s| s.attributes[0].1 == "good")
        .map(|s| s.value)
        .collect();
    assert!(ups.len() >= 3 && ups.iter().all(|v| *v == 1.0), "{ups:?}");
    assert!(value(&samples, "dozor.postgresql.up", &["bad"]) == Some(0.0));
    assert!(
        samples
            .iter()
            .filter(|s| s.metric.name == "dozor.demo.runs")
            .count()
            >= 3
    );
    let errors = samples
        .iter()
        .filter(|s| s.metric.name == "dozor.agent.scrape.errors")
        .any(|s| s.attributes[0].1 == "postgresql/bad" && s.attributes[1].1 == "connect");
    assert!(errors, "connect errors counted for postgresql/bad");
}
