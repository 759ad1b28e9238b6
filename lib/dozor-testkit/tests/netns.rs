//! The namespaces really are separate hosts joined by their veth pair.

use dozor_testkit::netns::Link;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

#[test]
fn a_connects_to_b_over_both_families_and_not_to_the_host() {
    let link = Link::new();
    for addr in [link.b_v4, link.b_v6] {
        let listener = link
            .b
            .run(|| TcpListener::bind(SocketAddr::new(addr, 0)).unwrap());
        let to = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, peer) = listener.accept().unwrap();
            s.write_all(b"hi").unwrap();
            peer.ip()
        });
        let mut got = String::new();
        link.a.run(|| {
            TcpStream::connect(to)
                .unwrap()
                .read_to_string(&mut got)
                .unwrap()
        });
        assert_eq!(got, "hi");
        let peer = server.join().unwrap();
        assert!(peer == link.a_v4 || peer == link.a_v6, "{peer}");
    }
    // Nothing listens on port 9 in b: refused, from a.
    let refused = link
        .a
        .run(|| TcpStream::connect(SocketAddr::new(link.b_v4, 9)).unwrap_err());
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
}
