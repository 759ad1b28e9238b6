//! The cost of one collection with 10,000 established sockets, side by side with `ss -tin` on
//! the same sockets in the same run: a figure for `docs/benchmarks.md`, not an assertion
//! (ignored; run as root, alone, in release):
//!
//! ```text
//! cargo test --release -p dozor-agent --bin dozor-agent -- --ignored --nocapture tcp_info::tests::cost
//! ```
//!
//! 5,000 loopback connections (10,000 sockets, both ends) in a namespace of its own, each
//! client from its own 127.x address, so the accepted ends are 5,000 peers (200 kept, the rest
//! folded into `_other`) and the clients' ends one.

use super::super::TcpInfo;
use super::super::config::Config;
use super::loopback::connect_from;
use super::netns::{Namespaces, in_netns};
use std::net::TcpListener;
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 5_000;
const PORT: u16 = 7171;
const ROUNDS: u32 = 20;

#[allow(unsafe_code)]
fn thread_cpu() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

#[allow(unsafe_code)]
fn children_cpu() -> Duration {
    // SAFETY: getrusage writes the struct we pass.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut r) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(r.ru_utime) + tv(r.ru_stime)
}

/// Raises the soft limit of open files to the hard one, which must allow `n`.
#[allow(unsafe_code)]
fn raise_open_files(n: u64) {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the struct we pass.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) };
    assert!(
        l.rlim_max >= n,
        "the hard limit of open files ({}) is below {n}",
        l.rlim_max
    );
    l.rlim_cur = l.rlim_max;
    // SAFETY: as above.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &l) };
    assert_eq!(rc, 0, "RLIMIT_NOFILE: {}", std::io::Error::last_os_error());
}

#[test]
#[ignore = "a benchmark: prints the cost of a collection with 10,000 sockets"]
fn cost_of_a_collection_with_10000_sockets() {
    raise_open_files(2 * CONNECTIONS as u64 + 200);
    let ns = Namespaces::new(&["cost"]);
    in_netns(&ns.name("cost"), || {
        let listener = TcpListener::bind(("127.0.0.1", PORT)).unwrap();
        let acceptor = std::thread::spawn(move || {
            (0..CONNECTIONS)
                .map(|_| listener.accept().unwrap().0)
                .collect::<Vec<_>>()
        });
        let clients: Vec<_> = (0..CONNECTIONS)
            .map(|i| connect_from(&format!("127.1.{}.{}", i / 250, i % 250 + 1), PORT))
            .collect();
        let servers = acceptor.join().unwrap();

        let config = Config {
            enabled: true,
            include_loopback: true,
            ..Config::default()
        };
        let mut agent = TcpInfo::new(&config);
        let first = agent.read().unwrap();
        let sockets: u64 = first.rows.iter().map(|r| r.gauges.sockets).sum();
        assert_eq!(sockets, 2 * CONNECTIONS as u64, "{} rows", first.rows.len());
        assert_eq!(
            first.overflow,
            CONNECTIONS + 1 - 200,
            "5,001 peers, 200 kept"
        );

        let (cpu0, wall0) = (thread_cpu(), Instant::now());
        for _ in 0..ROUNDS {
            let r = agent.read().unwrap();
            let mut rec = dozor_metrics::sample::Recorder::new();
            super::super::record(&mut rec, &r);
            std::hint::black_box(rec.take());
        }
        let (ours_cpu, ours_wall) = (thread_cpu() - cpu0, wall0.elapsed());

        let (cpu0, wall0) = (children_cpu(), Instant::now());
        for _ in 0..ROUNDS {
            // Spawned from this thread, ss is in its namespace.
            let st = std::process::Command::new("ss")
                .arg("-tin")
                .stdout(std::process::Stdio::null())
                .status()
                .unwrap();
            assert!(st.success());
        }
        let (ss_cpu, ss_wall) = (children_cpu() - cpu0, wall0.elapsed());
        let (socks, peers) = agent.peers.tracked();
        println!(
            "tcp_info collection, {} sockets ({} peers kept + _other), mean of {ROUNDS}: \
             {:.2} ms CPU, {:.2} ms wall (kept: {socks} sockets, {peers} peers' counters); \
             ss -tin: {:.2} ms CPU, {:.2} ms wall",
            2 * CONNECTIONS,
            200,
            ours_cpu.as_secs_f64() * 1e3 / f64::from(ROUNDS),
            ours_wall.as_secs_f64() * 1e3 / f64::from(ROUNDS),
            ss_cpu.as_secs_f64() * 1e3 / f64::from(ROUNDS),
            ss_wall.as_secs_f64() * 1e3 / f64::from(ROUNDS),
        );
        drop((clients, servers));
    })
    .join()
    .unwrap();
}
