//! Bad input: wrong credentials, JetStream not enabled, nothing listening, a server that
//! accepts and never answers. Each is a clear error naming the instance and the fix, and the
//! next run retries.

use super::*;
use dozor_testkit::{Proc, free_port, tool, wait_for};
use std::net::TcpListener;
use std::process::Command;

/// A throw-away nats-server on `port` with `args`.
fn server(dir: &std::path::Path, port: u16, args: &[&str]) -> Proc {
    let mut cmd = Command::new(tool("nats-server", "nats-server"));
    cmd.args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .args(args);
    let p = Proc::spawn(&format!("nats-{port}"), dir, &mut cmd);
    wait_for(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .expect("nats-server listening");
    p
}

#[test]
fn wrong_credentials_then_right_ones() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let store = dir.path().join("js");
    let _server = server(
        dir.path(),
        port,
        &[
            "-js",
            "-sd",
            store.to_str().unwrap(),
            "--user",
            "dozor",
            "--pass",
            "s3cret-pw",
        ],
    );
    let address = format!("127.0.0.1:{port}");
    let mut cfg = instance("secured", &address);
    cfg.username = Some("dozor".into());
    cfg.password = Some("wrong-pw".into());
    let mut n = Nats::new(&cfg, TIMEOUT).unwrap();
    let (got, result) = collect(&mut n);
    let e = result.unwrap_err();
    assert_eq!(e.kind, "auth", "{e}");
    assert!(e.message.starts_with("instance secured: "), "{e}");
    assert!(e.message.contains("check user and password"), "{e}");
    assert!(!e.message.contains("wrong-pw"), "{e}");
    assert_eq!(value(&got, "dozor.nats.up", &[]), Some(0.0));

    cfg.password = Some("s3cret-pw".into());
    let mut n = Nats::new(&cfg, TIMEOUT).unwrap();
    let (got, result) = collect(&mut n);
    result.unwrap();
    assert_eq!(value(&got, "dozor.nats.up", &[]), Some(1.0));
}

#[test]
fn jetstream_not_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = server(dir.path(), port, &[]);
    let mut n = Nats::new(&instance("plain", &format!("127.0.0.1:{port}")), TIMEOUT).unwrap();
    let e = collect(&mut n).1.unwrap_err();
    assert_eq!(e.kind, "plugin_missing", "{e}");
    assert!(e.message.contains("start nats-server with -js"), "{e}");
}

#[test]
fn nothing_listening_then_a_server_comes_up() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut n = Nats::new(&instance("later", &format!("127.0.0.1:{port}")), TIMEOUT).unwrap();
    let (got, result) = collect(&mut n);
    let e = result.unwrap_err();
    assert_eq!(e.kind, "connect", "{e}");
    assert!(
        e.message.contains("check that nats-server runs there"),
        "{e}"
    );
    assert_eq!(value(&got, "dozor.nats.up", &[]), Some(0.0));

    let store = dir.path().join("js");
    let mut s = server(dir.path(), port, &["-js", "-sd", store.to_str().unwrap()]);
    collect(&mut n).1.unwrap();
    // The server goes away under the kept connection: an error, then a reconnect.
    s.kill();
    let e = collect(&mut n).1.unwrap_err();
    assert_eq!(e.kind, "connect", "{e}");
    let _again = server(dir.path(), port, &["-js", "-sd", store.to_str().unwrap()]);
    collect(&mut n).1.unwrap();
}

#[test]
fn a_server_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let held = std::thread::spawn(move || {
        let conns: Vec<_> = listener.incoming().take(2).collect();
        std::thread::sleep(Duration::from_secs(4));
        drop(conns);
    });
    let mut n = Nats::new(&instance("stuck", &address), TIMEOUT).unwrap();
    for _ in 0..2 {
        let e = collect(&mut n).1.unwrap_err();
        assert_eq!(e.kind, "timeout", "{e}");
        assert!(e.message.contains("within 1s"), "{e}");
    }
    drop(held);
}

/// A peer that speaks NATS's greeting, then sends an endless line (64 MiB without a newline)
/// and then a message claiming 2^60 bytes: each is a `parse` error and a new connection. The
/// client stops reading the line after 64 KiB and hangs up, so the peer cannot send it all;
/// the message size is never allocated.
#[test]
fn an_endless_line_or_a_huge_message_is_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let t = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let greet = |c: &mut std::net::TcpStream| {
            c.write_all(b"INFO {\"server_id\":\"x\",\"version\":\"2.9.0\"}\r\n")
                .unwrap();
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
        };
        let (mut c, _) = listener.accept().unwrap();
        greet(&mut c);
        let chunk = vec![b'x'; 1 << 20];
        let sent = (0..64).take_while(|_| c.write_all(&chunk).is_ok()).count();
        drop(c);
        let (mut c, _) = listener.accept().unwrap();
        greet(&mut c);
        let _ = c.write_all(format!("MSG _INBOX.x 1 {}\r\n", 1u64 << 60).as_bytes());
        std::thread::sleep(Duration::from_millis(500));
        sent
    });
    let mut n = Nats::new(&instance("junk", &address), TIMEOUT).unwrap();
    for want in ["longer than 64 KiB", "unexpected"] {
        let e = collect(&mut n).1.unwrap_err();
        assert_eq!(e.kind, "parse", "{e}");
        assert!(e.message.contains(want), "{want}: {e}");
    }
    let sent = t.join().unwrap();
    assert!(sent < 32, "the client read {sent} MiB of one line");
}

#[test]
fn a_non_nats_port_is_named() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let t = std::thread::spawn(move || {
        use std::io::Write;
        let (mut c, _) = listener.accept().unwrap();
        c.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").unwrap();
    });
    let mut n = Nats::new(&instance("web", &address), TIMEOUT).unwrap();
    let e = collect(&mut n).1.unwrap_err();
    assert_eq!(e.kind, "parse", "{e}");
    assert!(e.message.contains("monitoring port"), "{e}");
    t.join().unwrap();
}

#[test]
fn a_user_without_the_jetstream_api_permission() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = dir.path().join("nats.conf");
    std::fs::write(
        &conf,
        format!(
            "listen: 127.0.0.1:{port}\njetstream {{ store_dir: \"{}\" }}\nauthorization {{ users = [\n  {{ user: ro, password: ro-pw, permissions: {{ publish: {{ deny: [\"$JS.API.>\"] }} }} }}\n  {{ user: dozor, password: dozor-pw }}\n] }}\n",
            dir.path().join("js").display()
        ),
    )
    .unwrap();
    let _server = server(dir.path(), port, &["-c", conf.to_str().unwrap()]);
    let address = format!("127.0.0.1:{port}");
    let mut cfg = instance("restricted", &address);
    cfg.username = Some("ro".into());
    cfg.password = Some("ro-pw".into());
    let e = collect(&mut Nats::new(&cfg, TIMEOUT).unwrap())
        .1
        .unwrap_err();
    assert_eq!(e.kind, "permission", "{e}");
    assert!(e.message.contains("Permissions Violation"), "{e}");
    assert!(e.message.contains("allow the user to publish"), "{e}");

    cfg.username = Some("dozor".into());
    cfg.password = Some("dozor-pw".into());
    collect(&mut Nats::new(&cfg, TIMEOUT).unwrap()).1.unwrap();
}
