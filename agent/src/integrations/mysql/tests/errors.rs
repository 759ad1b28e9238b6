//! What an operator sees when an instance is misconfigured: a refused port, a wrong password,
//! missing grants. Each run returns an error naming the instance and the fix, and the other
//! instances keep being collected. Uses the shared server on 127.0.0.1:3306 with a user of its
//! own, dropped at the end.

use super::{TIMEOUT, collect, instance, value};
use crate::integrations::mysql::Mysql;
use crate::integrations::mysql::config::{Config, Dsn, HeartbeatConfig};
use crate::integrations::{Context, Section};
use crate::scheduler::spawn_all;
use dozor_testkit::mariadb::{self, root as shared};
use mysql::prelude::Queryable;
use std::time::Duration;

const SHARED: &str = "mysql://root@127.0.0.1:3306/";

/// A user of this test, and a database of the same name, dropped on drop.
struct Account {
    user: String,
    _database: mariadb::Database,
}

impl Account {
    fn create() -> Account {
        let database = mariadb::Database::create("dozor_t");
        let user = database.name().to_string();
        shared()
            .query_drop(format!(
                "DROP USER IF EXISTS '{user}'@'%'; CREATE USER '{user}'@'%' IDENTIFIED BY 'right-pw'"
            ))
            .unwrap();
        Account {
            user,
            _database: database,
        }
    }

    fn dsn(&self, password: &str) -> String {
        format!("mysql://{}:{password}@127.0.0.1:3306/", self.user)
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        let _ = shared().query_drop(format!("DROP USER IF EXISTS '{}'@'%'", self.user));
    }
}

#[test]
fn each_error_names_the_instance_and_the_fix() {
    let account = Account::create();
    let user = &account.user;
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    let mut m = Mysql::new(
        &instance("gone", &format!("mysql://dozor:pw@127.0.0.1:{refused}/")),
        TIMEOUT,
    )
    .unwrap();
    let (s, r) = collect(&mut m);
    let e = r.unwrap_err();
    assert_eq!(e.kind, "connect", "{e}");
    assert!(
        e.message.starts_with(&format!(
            "instance gone: cannot connect to dozor@127.0.0.1:{refused}/"
        )),
        "{e}"
    );
    assert!(
        e.message.contains("check that the server runs there"),
        "{e}"
    );
    assert_eq!(value(&s, "dozor.mysql.up", &[]), Some(0.0));
    assert_eq!(s.len(), 1, "only up is recorded: {s:?}");

    let mut m = Mysql::new(&instance("wrong-pw", &account.dsn("not-the-pw")), TIMEOUT).unwrap();
    let (s, r) = collect(&mut m);
    let e = r.unwrap_err();
    assert_eq!(e.kind, "auth", "{e}");
    assert!(
        e.message
            .starts_with("instance wrong-pw: Access denied for user"),
        "{e}"
    );
    assert!(
        e.message.contains("check the user and password in the DSN"),
        "{e}"
    );
    assert!(
        !e.message.contains("not-the-pw"),
        "the password is shown: {e}"
    );
    assert_eq!(value(&s, "dozor.mysql.up", &[]), Some(0.0));

    // No grants at all: the status is read, the replica status is refused.
    let mut m = Mysql::new(&instance("no-grants", &account.dsn("right-pw")), TIMEOUT).unwrap();
    let (s, r) = collect(&mut m);
    let e = r.unwrap_err();
    assert_eq!(e.kind, "permission", "{e}");
    assert!(
        e.message.starts_with(&format!(
            "instance no-grants: user {user} may not run the SHOW REPLICA STATUS"
        )),
        "{e}"
    );
    assert!(
        e.message
            .contains(&format!("GRANT SLAVE MONITOR ON *.* TO '{user}'")),
        "{e}"
    );
    assert_eq!(value(&s, "dozor.mysql.up", &[]), Some(1.0));
    assert!(value(&s, "mysql.query.client.count", &[]).is_some());

    // The fix the message gives works, without restarting the agent: a refused statement
    // closes the connection, and the next one sees the new grant.
    shared()
        .query_drop(format!("GRANT SLAVE MONITOR ON *.* TO '{user}'@'%'"))
        .unwrap();
    let (_, r) = collect(&mut m);
    r.unwrap();

    // The heartbeat on a "primary" the user may not write to.
    let mut config = instance("no-insert", &account.dsn("right-pw"));
    config.heartbeat = HeartbeatConfig {
        enabled: true,
        table: format!("{user}.dozor_heartbeat"),
        primary_dsn: Some(Dsn(account.dsn("right-pw"))),
    };
    let mut m = Mysql::new(&config, TIMEOUT).unwrap();
    let (_, r) = collect(&mut m);
    let e = r.unwrap_err();
    assert_eq!(e.kind, "permission", "{e}");
    assert!(
        e.message
            .starts_with("instance no-insert (heartbeat primary): "),
        "{e}"
    );
    assert!(
        e.message.contains(&format!(
            "GRANT INSERT, UPDATE ON {user}.dozor_heartbeat TO '{user}'"
        )),
        "{e}"
    );
}

/// One instance refused and one healthy, under the agent's scheduler: the healthy one keeps
/// its schedule and the refused one is counted as `error.type="connect"` under `integration="mysql/gone"`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_instance_does_not_stop_the_others() {
    drop(shared());
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = Config {
        enabled: true,
        instances: vec![
            instance("gone", &format!("mysql://root@127.0.0.1:{refused}/")),
            instance("shared", SHARED),
        ],
        ..Config::default()
    };
    let scheduled = config.build(&Context::for_tests(Duration::from_millis(200), TIMEOUT));
    assert_eq!(scheduled.len(), 2);
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let tasks = spawn_all(scheduled, tx);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for t in &tasks {
        t.abort();
    }
    let mut up = std::collections::BTreeMap::<String, Vec<f64>>::new();
    let mut errors = std::collections::BTreeMap::<(String, String), f64>::new();
    while let Ok(batches) = rx.try_recv() {
        for s in batches.iter().flat_map(|b| &b.samples) {
            if s.metric.name == "dozor.mysql.up" {
                up.entry(s.attributes[0].1.clone())
                    .or_default()
                    .push(s.value);
            }
            if s.metric.name == "dozor.agent.scrape.errors" {
                let key = (s.attributes[0].1.clone(), s.attributes[1].1.clone());
                errors.insert(key, s.value);
            }
        }
    }
    let healthy = &up["shared"];
    assert!(
        healthy.len() >= 3 && healthy.iter().all(|v| *v == 1.0),
        "{up:?}"
    );
    assert!(up["gone"].iter().all(|v| *v == 0.0), "{up:?}");
    // Counted per instance: `integration` is `mysql/<instance>`.
    let connect = errors.get(&("mysql/gone".into(), "connect".into()));
    assert!(connect.is_some_and(|n| *n >= 3.0), "{errors:?}");
    assert!(
        errors
            .iter()
            .all(|((i, _), n)| i != "mysql/shared" || *n == 0.0),
        "{errors:?}"
    );
}

/// A server that accepts the connection and never answers: the run ends with a `timeout`
/// error after a quarter of the integration's timeout, not at the scheduler's limit.
#[test]
fn a_silent_server_times_out_within_the_run() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = std::thread::spawn(move || {
        let held = listener.accept();
        std::thread::sleep(Duration::from_secs(3));
        drop(held);
    });
    let timeout = Duration::from_secs(2);
    let dsn = format!("mysql://dozor@127.0.0.1:{port}/");
    let mut m = Mysql::new(&instance("silent", &dsn), timeout).unwrap();
    let start = std::time::Instant::now();
    let (s, r) = collect(&mut m);
    let took = start.elapsed();
    let e = r.unwrap_err();
    assert_eq!(e.kind, "timeout", "{e}");
    assert!(
        e.message
            .starts_with("instance silent: no answer to the connection within 500ms"),
        "{e}"
    );
    assert!(took < timeout, "took {took:?}");
    assert_eq!(value(&s, "dozor.mysql.up", &[]), Some(0.0));
    holder.join().unwrap();
}
