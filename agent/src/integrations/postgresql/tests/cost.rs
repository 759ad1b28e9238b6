//! What a collection costs the server: statements issued and their execution time, measured
//! with `pg_stat_statements` on a cluster of the test's own, for a monitoring role of its own.

use super::cluster::Cluster;
use super::*;

/// Collections measured.
const RUNS: u32 = 50;

#[test]
fn a_collection_is_six_queries_and_little_server_time() {
    let cluster = Cluster::primary(
        "shared_preload_libraries = 'pg_stat_statements'\npg_stat_statements.track = all",
        &[],
    );
    let mut admin = cluster.admin();
    for sql in [
        "CREATE EXTENSION pg_stat_statements",
        "CREATE ROLE dozor LOGIN",
        "GRANT pg_monitor TO dozor",
        "CREATE DATABASE app1",
        "CREATE DATABASE app2",
    ] {
        admin.batch_execute(sql).unwrap();
    }
    let mut config = instance(
        "cost",
        &format!(
            "host=127.0.0.1 port={} user=dozor dbname=postgres",
            cluster.port
        ),
    );
    config.statements.enabled = true;
    let mut p = integration(&config);
    // Connect (and run the once-per-connection role probe) before measuring.
    collect(&mut p).1.unwrap();
    admin
        .batch_execute("SELECT pg_stat_statements_reset()")
        .unwrap();
    for _ in 0..RUNS {
        let (samples, result) = collect(&mut p);
        result.unwrap();
        assert!(value(&samples, "postgresql.commits", &["cost", "app2"]).is_some());
    }
    let row = admin
        .query_one(
            "SELECT sum(calls)::float8, sum(total_exec_time + total_plan_time)::float8 \
             FROM pg_stat_statements WHERE userid = 'dozor'::regrole AND toplevel",
            &[],
        )
        .unwrap();
    let (calls, ms): (f64, f64) = (row.get(0), row.get(1));
    let per_run = calls / f64::from(RUNS);
    eprintln!(
        "per collection: {per_run} statements, {:.3} ms inside PostgreSQL (3 databases, statements on)",
        ms / f64::from(RUNS)
    );
    let breakdown = admin
        .query(
            "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 60), \
                    (total_exec_time / calls)::float8 \
             FROM pg_stat_statements WHERE userid = 'dozor'::regrole AND toplevel \
             ORDER BY total_exec_time DESC",
            &[],
        )
        .unwrap();
    for row in breakdown {
        let (query, ms): (String, f64) = (row.get(0), row.get(1));
        eprintln!("  {ms:.3} ms  {query}");
    }
    assert_eq!(per_run, 6.0);
}
