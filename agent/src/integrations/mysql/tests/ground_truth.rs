//! Exact counts: a server of the test's own runs known statements between two collections, and
//! the exported counters move by exactly that much (the agent's own statements included).

use super::server::Server;
use super::{TIMEOUT, collect, instance, value};
use crate::integrations::mysql::Mysql;
use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder};

const INSERTS: usize = 500;
const SELECTS: usize = 300;
const TRANSACTIONS: usize = 40;
const SLOW: usize = 10;
const NEW_CONNECTIONS: usize = 5;
const FAILED_LOGINS: usize = 3;

#[test]
fn counters_move_by_exactly_the_statements_run() {
    let server = Server::start(1);
    server.sql("CREATE DATABASE gt; CREATE TABLE gt.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)");
    let mut client = server.connect();
    let mut m = Mysql::new(&instance("gt", &server.dsn("gt")), TIMEOUT).unwrap();

    let (before, result) = collect(&mut m);
    result.unwrap();
    // The agent and the test's client, nothing else.
    assert_eq!(value(&before, "mysql.threads", &["connected"]), Some(2.0));

    for i in 0..INSERTS {
        client
            .query_drop(format!("INSERT INTO gt.t (v) VALUES ({i})"))
            .unwrap();
    }
    for i in 0..SELECTS {
        let _: Option<i64> = client
            .query_first(format!("SELECT v FROM gt.t WHERE id = {}", i + 1))
            .unwrap();
    }
    for _ in 0..TRANSACTIONS {
        client.query_drop("BEGIN").unwrap();
        client
            .query_drop("UPDATE gt.t SET v = v + 1 WHERE id = 1")
            .unwrap();
        client.query_drop("COMMIT").unwrap();
    }
    // Every statement of this session from here on is slow, the SET included.
    client
        .query_drop("SET SESSION long_query_time = 0")
        .unwrap();
    for _ in 0..SLOW {
        client.query_drop("DO 1").unwrap();
    }
    for _ in 0..NEW_CONNECTIONS {
        drop(server.connect());
    }
    for _ in 0..FAILED_LOGINS {
        let wrong = OptsBuilder::new()
            .ip_or_hostname(Some("127.0.0.1"))
            .tcp_port(server.port)
            .user(Some("root"))
            .pass(Some("wrong"))
            .prefer_socket(false);
        assert!(Conn::new(wrong).is_err());
    }

    let (after, result) = collect(&mut m);
    result.unwrap();
    let delta = |metric: &str, rest: &[&str]| {
        value(&after, metric, rest).unwrap() - value(&before, metric, rest).unwrap()
    };
    assert_eq!(delta("mysql.commands", &["insert"]), INSERTS as f64);
    assert_eq!(delta("mysql.commands", &["select"]), SELECTS as f64);
    assert_eq!(delta("mysql.commands", &["begin"]), TRANSACTIONS as f64);
    assert_eq!(delta("mysql.commands", &["commit"]), TRANSACTIONS as f64);
    assert_eq!(delta("mysql.commands", &["update"]), TRANSACTIONS as f64);
    assert_eq!(delta("mysql.query.slow.count", &[]), (SLOW + 1) as f64);
    // The test's statements and the COM_QUIT of each closed connection, plus the agent's:
    // after its first status read SHOW GLOBAL VARIABLES and SHOW REPLICA STATUS, then the
    // second status read itself.
    let test_statements = INSERTS + SELECTS + 3 * TRANSACTIONS + 1 + SLOW + NEW_CONNECTIONS;
    assert_eq!(
        delta("mysql.query.client.count", &[]),
        (test_statements + 3) as f64
    );
    assert_eq!(
        delta("mysql.connection.count", &[]),
        (NEW_CONNECTIONS + FAILED_LOGINS) as f64
    );
    assert_eq!(
        delta("mysql.connection.errors", &["aborted"]),
        FAILED_LOGINS as f64
    );
    assert!(delta("mysql.buffer_pool.operations", &["read_requests"]) > 0.0);
    assert!(delta("mysql.buffer_pool.operations", &["write_requests"]) > 0.0);
    assert!(value(&after, "mysql.buffer_pool.pages", &["data"]).unwrap() > 0.0);
    assert_eq!(
        value(&after, "dozor.mysql.connection.max", &[]),
        Some(151.0)
    );
    assert_eq!(value(&after, "dozor.mysql.up", &[]), Some(1.0));
    // Not a replica: no replica series.
    assert!(after.iter().all(|s| !s.metric.name.contains("replica")));

    // The server closes the agent's connection: the next run reconnects and still reads.
    let ids: Vec<u64> = client
        .query("SELECT id FROM information_schema.processlist WHERE id <> CONNECTION_ID() AND command <> 'Daemon'")
        .unwrap();
    for id in ids {
        client.query_drop(format!("KILL {id}")).unwrap();
    }
    let (again, result) = collect(&mut m);
    result.unwrap();
    assert_eq!(value(&again, "dozor.mysql.up", &[]), Some(1.0));
}
