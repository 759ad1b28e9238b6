//! The kernel's sockets on loopback, in a namespace of the test's own (so no other socket of
//! the machine counts): accepted connections keyed by the client's address and the listening
//! port, outgoing ones by the remote end; counters that never go back when a socket closes,
//! checked against the bytes the test itself sent. Needs root (`ip netns`).

use super::super::TcpInfo;
use super::super::config::Config;
use super::super::peers::{Report, Row};
use super::netns::{Namespaces, in_netns};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

const PORT: u16 = 7070;

fn peer<'a>(r: &'a Report, name: &str) -> &'a Row {
    r.rows
        .iter()
        .find(|r| r.peer == name)
        .unwrap_or_else(|| panic!("no peer {name} in {:?}", r.rows))
}

/// Reads exactly `n` bytes from each of `conns`.
fn drain(conns: &mut [TcpStream], n: usize) {
    for c in conns {
        let mut buf = vec![0u8; n];
        c.read_exact(&mut buf).unwrap();
    }
}

#[test]
fn accepted_connections_are_one_peer_and_counters_survive_a_close() {
    let ns = Namespaces::new(&["lo"]);
    in_netns(&ns.name("lo"), || {
        let config = Config {
            enabled: true,
            include_loopback: true,
            ..Config::default()
        };
        let mut agent = TcpInfo::new(&config);
        let mut without = TcpInfo::new(&Config::default());
        assert!(agent.read().unwrap().rows.is_empty(), "a fresh namespace");

        let listener = TcpListener::bind(("127.0.0.1", PORT)).unwrap();
        // Three clients from three loopback addresses.
        let mut clients: Vec<TcpStream> = (1..=3)
            .map(|i| {
                let s = connect_from(&format!("127.0.0.{}", 10 + i), PORT);
                s.set_nodelay(true).unwrap();
                s
            })
            .collect();
        let mut servers: Vec<TcpStream> = (0..3).map(|_| listener.accept().unwrap().0).collect();
        for c in &mut clients {
            c.write_all(&[1u8; 1000]).unwrap();
        }
        drain(&mut servers, 1000);
        let r = agent.read().unwrap();
        assert!(
            without.read().unwrap().rows.is_empty(),
            "loopback is left out by default"
        );
        let out = peer(&r, &format!("127.0.0.1:{PORT}"));
        assert_eq!(out.gauges.sockets, 3);
        // bytes_acked counts the SYN: 1 per socket.
        assert_eq!(out.bytes_acked, Some(3003));
        for i in 1..=3 {
            let inc = peer(&r, &format!("127.0.0.{}->:{PORT}", 10 + i));
            assert_eq!(inc.gauges.sockets, 1, "{inc:?}");
            assert_eq!(inc.bytes_received, Some(1000));
        }
        assert_eq!(r.rows.len(), 4, "no peer per ephemeral port: {:?}", r.rows);

        // Client 0 sends 500 more and closes; client 1 sends 700.
        clients[0].write_all(&[2u8; 500]).unwrap();
        drain(&mut servers[..1], 500);
        drop(clients.remove(0));
        clients[0].write_all(&[3u8; 700]).unwrap();
        drain(&mut servers[1..2], 700);
        std::thread::sleep(std::time::Duration::from_millis(50));
        let r2 = agent.read().unwrap();
        let out2 = peer(&r2, &format!("127.0.0.1:{PORT}"));
        assert_eq!(out2.gauges.sockets, 2);
        // The closed client's last 500 bytes may be missed (its socket is gone), never more.
        let acked = out2.bytes_acked.unwrap();
        assert!((3703..=4204).contains(&acked), "bytes acked {acked}");
        // The server's end of the closed connection waits in CLOSE_WAIT: still read, so its
        // last 500 bytes count (and the FIN's sequence number: 1); it is no longer an
        // established socket.
        let inc = peer(&r2, &format!("127.0.0.11->:{PORT}"));
        assert_eq!((inc.bytes_received, inc.gauges.sockets), (Some(1501), 0));
        drop(servers.remove(0));
        std::thread::sleep(std::time::Duration::from_millis(50));
        let r3 = agent.read().unwrap();
        assert!(
            r3.rows
                .iter()
                .all(|r| r.peer != format!("127.0.0.11->:{PORT}"))
        );
        let out3 = peer(&r3, &format!("127.0.0.1:{PORT}"));
        assert!(out3.bytes_acked.unwrap() >= acked, "counters never go back");
    })
    .join()
    .unwrap();
}

/// A client socket bound to `local` (any port), connected to 127.0.0.1:`port`.
pub fn connect_from(local: &str, port: u16) -> TcpStream {
    use std::os::fd::FromRawFd;
    #[allow(unsafe_code)]
    // SAFETY: a fresh socket wrapped at once; bind and connect take pointers to locals.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let s = TcpStream::from_raw_fd(fd);
        let addr = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(ip).to_be(),
            },
            sin_zero: [0; 8],
        };
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let l = addr(local.parse().unwrap(), 0);
        assert_eq!(
            libc::bind(fd, (&raw const l).cast(), len),
            0,
            "bind {local}"
        );
        let r = addr(std::net::Ipv4Addr::LOCALHOST, port);
        assert_eq!(
            libc::connect(fd, (&raw const r).cast(), len),
            0,
            "connect: {}",
            std::io::Error::last_os_error()
        );
        s
    }
}
