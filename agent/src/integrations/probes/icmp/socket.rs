//! The socket a round of echoes goes through: a datagram ICMP socket ("ping socket", no
//! privilege needed where `net.ipv4.ping_group_range` admits the agent's group; the kernel picks
//! the identifier and hands the socket only the replies that carry it), else a raw ICMP socket
//! (CAP_NET_RAW on Linux, an administrator on Windows; it sees every ICMP message the host
//! receives, so the probe filters by source, identifier, sequence and cookie), else a
//! `permission` failure that names both fixes.

use super::super::Failure;
use socket2::{Domain, Protocol, Socket, Type};
use std::io::ErrorKind;
use std::net::{IpAddr, UdpSocket};

/// An open ICMP socket of one family.
pub struct IcmpSocket {
    /// Datagram-like calls (send_to, recv_from, read timeouts) on the ICMP socket.
    pub socket: UdpSocket,
    /// A raw socket: IPv4 messages come with their IP header, and nothing is filtered for us.
    pub raw: bool,
}

/// A socket for echoes to `ip`'s family.
pub fn open(ip: IpAddr) -> Result<IcmpSocket, Failure> {
    let (domain, protocol) = match ip {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
    };
    let dgram = match Socket::new(domain, Type::DGRAM, Some(protocol)) {
        Ok(s) => {
            report_errors(&s, ip.is_ipv6());
            return Ok(IcmpSocket {
                socket: s.into(),
                raw: false,
            });
        }
        Err(e) => e,
    };
    match Socket::new(domain, Type::RAW, Some(protocol)) {
        Ok(s) => Ok(IcmpSocket {
            socket: s.into(),
            raw: true,
        }),
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            Err(Failure::new("permission", permission_message(&dgram, &e)))
        }
        Err(e) => Err(Failure::new(
            "socket",
            format!("no ICMP socket: datagram: {dgram}; raw: {e}"),
        )),
    }
}

/// Why neither socket opened, and the two fixes.
fn permission_message(dgram: &std::io::Error, raw: &std::io::Error) -> String {
    format!(
        "no ICMP socket: a datagram ICMP socket needs the agent's group in net.ipv4.ping_group_range{} ({dgram}), \
         a raw one needs CAP_NET_RAW ({raw}). Either admit the group: \
         `sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"` (or \"<gid> <gid>\" for the agent's group alone; \
         put it in /etc/sysctl.d/ to keep it), or grant the capability: \
         `setcap cap_net_raw+ep /usr/local/bin/dozor-agent`, or under systemd a drop-in with \
         `AmbientCapabilities=CAP_NET_RAW` and `CapabilityBoundingSet=CAP_NET_RAW`",
        group_range()
    )
}

/// ` (now "1 0", the agent's group is 1000)`, where Linux says.
#[cfg(target_os = "linux")]
fn group_range() -> String {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range")
        .map(|r| r.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    // The effective group: the second field of `Gid:`.
    let gid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Gid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .unwrap_or_default();
    format!(" (now \"{range}\", the agent's group is {gid})")
}

#[cfg(not(target_os = "linux"))]
fn group_range() -> String {
    String::new()
}

/// Linux tells a datagram ICMP socket about the errors its echoes met (destination unreachable)
/// only with IP_RECVERR / IPV6_RECVERR set: a `recv` then fails with EHOSTUNREACH, ENETUNREACH
/// or EACCES (administratively prohibited). Raw sockets receive the errors as messages.
#[cfg(target_os = "linux")]
fn report_errors(s: &Socket, v6: bool) {
    use std::os::fd::AsRawFd;
    let (level, name) = if v6 {
        (libc::SOL_IPV6, libc::IPV6_RECVERR)
    } else {
        (libc::SOL_IP, libc::IP_RECVERR)
    };
    let on: libc::c_int = 1;
    // SAFETY: setsockopt(2) on an open socket we own, with a pointer to a live c_int and its size.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            level,
            name,
            std::ptr::from_ref(&on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "IP_RECVERR not set: unreachable errors will count as losses.");
    }
}

#[cfg(not(target_os = "linux"))]
fn report_errors(_: &Socket, _: bool) {}
