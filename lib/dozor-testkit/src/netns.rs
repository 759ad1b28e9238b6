//! Test hosts in network namespaces: two namespaces joined by a veth pair, with IPv4 and IPv6
//! addresses, made with Debian's `ip` (iproute2) and removed when dropped, also when a test
//! fails. Needs root (tests run as root here and on CI).
//!
//! Code runs inside a namespace on a thread of its own ([`Netns::run`]): sockets opened there
//! stay in that namespace for their whole life, wherever they are used afterwards. Commands run
//! there with `ip netns exec` ([`Netns::command`]).
//!
//! ```no_run
//! let link = dozor_testkit::netns::Link::new();
//! let server = link.b.run(|| std::net::TcpListener::bind((link.b_v4, 8080)).unwrap());
//! let took = link.a.run(|| std::net::TcpStream::connect((link.b_v4, 8080)).is_ok());
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// One network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    /// Its name under `/run/netns`.
    pub name: String,
}

impl Netns {
    /// A new namespace named `dz-<pid>-<n><tag>`, with its loopback up.
    pub fn new(tag: &str) -> Netns {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let ns = Netns {
            name: format!("dz-{}-{n}{tag}", std::process::id()),
        };
        ip(&["netns", "add", &ns.name]);
        ns.sh(&["ip", "link", "set", "lo", "up"]);
        // No duplicate address detection on interfaces made later (the veth): a tentative
        // link-local address delays the first IPv6 exchange by a second.
        ns.sysctl("net.ipv6.conf.default.accept_dad", "0");
        ns
    }

    /// Runs `f` on a new thread that has joined this namespace, and returns what it returns.
    /// Panics in `f` are passed on.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                self.enter();
                f()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// Spawns a detached thread in this namespace running `f` (a responder serving until the
    /// test ends).
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = self.path();
        std::thread::spawn(move || {
            join(&path);
            f()
        })
    }

    /// Moves the calling thread into this namespace (for threads the caller manages itself).
    pub fn enter(&self) {
        join(&self.path());
    }

    /// `ip netns exec <name> <program> <args>`, to be spawned or run by the caller.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs a command in the namespace; panics with its output when it fails.
    pub fn sh(&self, argv: &[&str]) -> Output {
        let out = self
            .command(argv[0])
            .args(&argv[1..])
            .output()
            .unwrap_or_else(|e| panic!("ip netns exec {} {argv:?}: {e}", self.name));
        assert!(
            out.status.success(),
            "ip netns exec {} {argv:?}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Sets a sysctl inside the namespace (`net.ipv4.icmp_echo_ignore_all=1`).
    pub fn sysctl(&self, key: &str, value: &str) {
        self.sh(&["sysctl", "-q", "-w", &format!("{key}={value}")]);
    }

    fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

fn join(path: &str) {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // SAFETY: setns(2) on a namespace file we hold open; it changes only this thread's
    // network namespace.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
}

/// Two namespaces `a` and `b` joined by a veth pair (`veth_a` in `a`, `veth_b` in `b`), with
/// `10.<x>.<y>.1/24` + `fd00:<x>:<y>::1/64` on `a` and `.2` / `::2` on `b`.
#[derive(Debug)]
pub struct Link {
    /// The first namespace (the prober, the sender).
    pub a: Netns,
    /// The second namespace (the responders, the receiver).
    pub b: Netns,
    /// The veth end in `a`.
    pub veth_a: String,
    /// The veth end in `b`.
    pub veth_b: String,
    /// `a`'s IPv4 address.
    pub a_v4: IpAddr,
    /// `b`'s IPv4 address.
    pub b_v4: IpAddr,
    /// `a`'s IPv6 address.
    pub a_v6: IpAddr,
    /// `b`'s IPv6 address.
    pub b_v6: IpAddr,
}

impl Link {
    /// A new pair of namespaces joined by a veth pair with both address families configured
    /// (IPv6 without duplicate address detection, so it is usable at once).
    pub fn new() -> Link {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let a = Netns::new("a");
        let b = Netns::new("b");
        // Interface names are at most 15 bytes.
        let id = format!("{:x}{n}", std::process::id() % 0xfffff);
        let (veth_a, veth_b) = (format!("dza{id}"), format!("dzb{id}"));
        ip(&[
            "link", "add", &veth_a, "netns", &a.name, "type", "veth", "peer", "name", &veth_b,
            "netns", &b.name,
        ]);
        let x = (std::process::id() % 250) as u8 + 1;
        let y = (n % 250) as u8 + 1;
        let v4 = |h: u8| IpAddr::V4(Ipv4Addr::new(10, x, y, h));
        let v6 = |h: u16| IpAddr::V6(Ipv6Addr::new(0xfd00, x.into(), y.into(), 0, 0, 0, 0, h));
        for (ns, dev, h) in [(&a, &veth_a, 1), (&b, &veth_b, 2)] {
            ns.sh(&["ip", "addr", "add", &format!("{}/24", v4(h)), "dev", dev]);
            ns.sh(&[
                "ip",
                "addr",
                "add",
                &format!("{}/64", v6(h.into())),
                "dev",
                dev,
                "nodad",
            ]);
            ns.sh(&["ip", "link", "set", dev, "up"]);
        }
        // Ready when b answers a over both families: a connect to a closed port, refused, has
        // resolved the neighbours both ways. (The first IPv6 exchange on a new veth pair here
        // loses its first SYN; a test must not measure that second.)
        for to in [v4(2), v6(2)] {
            a.run(|| {
                let _ = std::net::TcpStream::connect_timeout(
                    &std::net::SocketAddr::new(to, 9),
                    std::time::Duration::from_secs(3),
                );
            });
        }
        Link {
            a,
            b,
            veth_a,
            veth_b,
            a_v4: v4(1),
            b_v4: v4(2),
            a_v6: v6(1),
            b_v6: v6(2),
        }
    }
}

impl Default for Link {
    fn default() -> Self {
        Link::new()
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip {args:?}: {e} (apt-get install iproute2)"));
    assert!(
        out.status.success(),
        "ip {args:?}: {} (network namespaces need root)",
        String::from_utf8_lossy(&out.stderr)
    );
}
