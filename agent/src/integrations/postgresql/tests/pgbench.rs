//! Ground truth for database QPS: the transactions pgbench reports against the difference of
//! `postgresql.commits + postgresql.rollbacks` between two collections.

use super::*;
use dozor_testkit::pg::Database;
use std::process::Command;

/// Commits plus rollbacks of `db` in one collection.
fn transactions(p: &mut Postgresql, db: &str) -> f64 {
    let (samples, result) = collect(p);
    result.expect("collection");
    let commits = value(&samples, "postgresql.commits", &["bench", db]).expect("commits of db");
    let rollbacks =
        value(&samples, "postgresql.rollbacks", &["bench", db]).expect("rollbacks of db");
    commits + rollbacks
}

/// "number of transactions actually processed: 4000/4000" -> 4000.
fn processed(output: &str) -> f64 {
    output
        .lines()
        .find_map(|l| l.strip_prefix("number of transactions actually processed: "))
        .and_then(|rest| rest.split('/').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no transaction count in pgbench output:\n{output}"))
}

fn pgbench(args: &[&str]) -> String {
    let out = Command::new("pgbench")
        .args(["-h", "127.0.0.1", "-p", "5432", "-U", "postgres"])
        .args(args)
        .output()
        .expect("pgbench (Debian package postgresql-contrib / postgresql-15)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "pgbench {args:?}: {text}");
    text
}

#[test]
fn exported_transactions_match_pgbench_within_one_percent() {
    let database = Database::create("dozor_bench");
    let db = database.name().to_string();
    pgbench(&["-i", "-q", "-s", "1", &db]);
    // The agent's own connection is to `postgres`: its queries are not counted in `db`.
    let mut p = integration(&instance("bench", &format!("{SHARED} dbname=postgres")));
    let before = transactions(&mut p, &db);
    // pgbench -i -s 1 loads 100,000 accounts: several MB.
    let (samples, _) = collect(&mut p);
    let size = value(&samples, "postgresql.db_size", &["bench", &db]).expect("size of db");
    assert!(size > 10e6, "{db} is {size} bytes");
    let output = pgbench(&["-n", "-c", "2", "-t", "1500", &db]);
    let reported = processed(&output);
    // Backends publish their counters at transaction end, rate-limited; pgbench's exit
    // flushes them. Poll until two readings 300 ms apart agree.
    let mut last = f64::NAN;
    let after = poll(Duration::from_secs(15), || {
        let now = transactions(&mut p, &db);
        let stable = now == last;
        last = now;
        std::thread::sleep(Duration::from_millis(300));
        stable.then_some(now)
    })
    .expect("pg_stat_database settles");
    let exported = after - before;
    let error = (exported - reported).abs() / reported;
    eprintln!(
        "pgbench reported {reported} transactions; exported counters moved by {exported} ({:.3}% off)",
        error * 100.0
    );
    assert!(error < 0.01, "pgbench {reported}, exported {exported}");
}
