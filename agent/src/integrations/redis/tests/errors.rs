//! Bad input: a wrong password, nothing listening, a server that accepts and never answers.
//! Each is a clear error naming the instance and the fix, and the next run retries.

use super::*;
use dozor_testkit::{Proc, free_port, tool, wait_for};
use std::net::TcpListener;
use std::process::Command;

/// A throw-away redis-server on a free port, with `args`.
fn server(dir: &std::path::Path, port: u16, args: &[&str]) -> Proc {
    let bin = tool("redis-server", "redis-server");
    let mut cmd = Command::new(bin);
    cmd.args([
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ])
    .arg("--dir")
    .arg(dir)
    .args(args);
    let p = Proc::spawn(&format!("redis-{port}"), dir, &mut cmd);
    wait_for(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .expect("redis-server listening");
    p
}

#[test]
fn wrong_password_then_right_one() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = server(dir.path(), port, &["--requirepass", "s3cret-pw"]);
    let address = format!("127.0.0.1:{port}");

    let mut cfg = instance("secured", &address);
    let mut r = Redis::new(&cfg, TIMEOUT).unwrap();
    let (s, result) = collect(&mut r);
    let e = result.unwrap_err();
    assert_eq!(e.kind, "auth", "{e}");
    assert!(e.message.starts_with("instance secured: "), "{e}");
    assert!(e.message.contains("requires a password"), "{e}");
    assert_eq!(value(&s, "dozor.redis.up", &[]), Some(0.0));

    cfg.password = Some("wrong-pw".into());
    let mut r = Redis::new(&cfg, TIMEOUT).unwrap();
    let e = collect(&mut r).1.unwrap_err();
    assert_eq!(e.kind, "auth", "{e}");
    assert!(e.message.contains("check username and password"), "{e}");
    assert!(!e.message.contains("wrong-pw"), "{e}");

    cfg.password = Some("s3cret-pw".into());
    cfg.lists = vec!["q".into()];
    cfg.streams = vec!["s".into()];
    let mut r = Redis::new(&cfg, TIMEOUT).unwrap();
    let (s, result) = collect(&mut r);
    result.unwrap();
    assert_eq!(value(&s, "dozor.redis.list.length", &["q"]), Some(0.0));

    // An ACL user without LLEN: the lists source fails with the grant to give; the streams
    // source and INFO still report.
    let mut admin = redis::Client::open(format!("redis://:s3cret-pw@{address}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("limited")
        .arg("on")
        .arg(">limited-pw")
        .arg("~*")
        .arg("+@connection")
        .arg("+info")
        .arg("+xlen")
        .arg("+xinfo")
        .query(&mut admin)
        .unwrap();
    cfg.username = Some("limited".into());
    cfg.password = Some("limited-pw".into());
    let mut r = Redis::new(&cfg, TIMEOUT).unwrap();
    let (s, result) = collect(&mut r);
    let e = result.unwrap_err();
    assert_eq!(e.kind, "permission", "{e}");
    assert!(e.message.contains("may not run LLEN"), "{e}");
    assert!(e.message.contains("ACL SETUSER"), "{e}");
    assert_eq!(value(&s, "dozor.redis.up", &[]), Some(1.0));
    assert_eq!(value(&s, "dozor.redis.stream.length", &["s"]), Some(0.0));
    assert_eq!(value(&s, "dozor.redis.list.length", &["q"]), None);
}

#[test]
fn nothing_listening_then_a_server_comes_up() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut r = Redis::new(&instance("later", &format!("127.0.0.1:{port}")), TIMEOUT).unwrap();
    let (s, result) = collect(&mut r);
    let e = result.unwrap_err();
    assert_eq!(e.kind, "connect", "{e}");
    assert!(
        e.message.contains("check that redis-server runs there"),
        "{e}"
    );
    assert_eq!(value(&s, "dozor.redis.up", &[]), Some(0.0));

    let mut server = server(dir.path(), port, &[]);
    let (s, result) = collect(&mut r);
    result.unwrap();
    assert_eq!(value(&s, "dozor.redis.up", &[]), Some(1.0));

    // The server goes away under a kept connection: an error, then a reconnect.
    server.kill();
    let e = collect(&mut r).1.unwrap_err();
    assert_eq!(e.kind, "connect", "{e}");
    let _again = self::server(dir.path(), port, &[]);
    collect(&mut r).1.unwrap();
}

#[test]
fn a_server_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in listener.incoming().take(2) {
            conns.push(c);
        }
        std::thread::sleep(Duration::from_secs(5));
    });
    let mut r = Redis::new(&instance("stuck", &address), TIMEOUT).unwrap();
    for _ in 0..2 {
        let e = collect(&mut r).1.unwrap_err();
        assert_eq!(e.kind, "timeout", "{e}");
        assert!(e.message.contains("within 1s"), "{e}");
    }
    drop(held);
}
