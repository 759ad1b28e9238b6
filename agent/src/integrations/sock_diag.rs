//! The kernel's `sock_diag` netlink interface (what `ss` uses): one dump of the TCP sockets of
//! the agent's network namespace, each `inet_diag_msg` (and the attributes the request asked
//! for, e.g. `struct tcp_info`) handed to a callback. Used by `host` for the connection states
//! and by `tcp_info` for the per-peer figures.
//!
//! The socket describes the network namespace of the thread that opens it, which is how the
//! `tcp_info` tests read another namespace.

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};

const NETLINK_SOCK_DIAG: libc::c_int = 4;
/// The reply type of a `SOCK_DIAG_BY_FAMILY` request.
pub const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// The original `inet_diag` request: it dumps IPv4 and IPv6 sockets in one walk of the kernel's
/// hash table, where `SOCK_DIAG_BY_FAMILY` needs one walk per family.
pub const TCPDIAG_GETSOCK: u16 = 18;
/// A netlink error reply.
pub const NLMSG_ERROR: u16 = 2;
/// The end of a dump.
pub const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
/// Length of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;
/// Every TCP state (`idiag_states` is a mask of `1 << state`).
pub const ALL_STATES: u32 = u32::MAX;
/// The `idiag_ext` bit asking for `struct tcp_info` (attribute `INET_DIAG_INFO`).
pub const EXT_INFO: u8 = 1 << (INET_DIAG_INFO - 1);
/// The attribute type of `struct tcp_info` in a reply.
pub const INET_DIAG_INFO: u16 = 2;

/// What a dump calls with each socket's reply.
pub type Each<'a> = dyn FnMut(&[u8]) -> std::io::Result<()> + 'a;

/// An `InvalidData` error about the dump.
pub fn invalid(what: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("sock_diag: {what}"),
    )
}

/// Dumps the TCP sockets of both address families whose state is in `states` (a mask of
/// `1 << state`), with the extensions `ext` (`idiag_ext` bits), calling `each` with the payload
/// of every reply (`struct inet_diag_msg` followed by its attributes); the first error `each`
/// returns ends the dump.
pub fn dump(states: u32, ext: u8, each: &mut Each<'_>) -> std::io::Result<()> {
    let mut socket = open()?;
    let req = request(states, ext);
    std::io::Write::write_all(&mut socket, &req)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = socket.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "netlink socket closed",
            ));
        }
        if parse(&buf[..n], each)? {
            return Ok(());
        }
    }
}

#[allow(unsafe_code)]
fn open() -> std::io::Result<std::fs::File> {
    // SAFETY: socket(2) has no memory effects; the descriptor it returns is owned by nobody else
    // and is wrapped at once so that it is closed on every path.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a freshly opened descriptor that nothing else owns.
    Ok(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// A `TCPDIAG_GETSOCK` dump request (`struct inet_diag_req`) for every TCP socket of either
/// address family in `states`, with the extensions `ext`.
pub fn request(states: u32, ext: u8) -> Vec<u8> {
    let len = NLMSG_HDRLEN + 60;
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&TCPDIAG_GETSOCK.to_ne_bytes());
    msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
    msg.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel assigns ours
    msg.extend_from_slice(&[0, 0, 0, ext]); // family (ignored: both), src_len, dst_len, ext
    msg.extend_from_slice(&[0; 48]); // inet_diag_sockid: match any
    msg.extend_from_slice(&states.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes()); // dbs
    msg
}

/// Parses one datagram of netlink messages, calling `each` with the payload of every socket
/// reply; returns true at the end of the dump.
pub fn parse(mut data: &[u8], each: &mut Each<'_>) -> std::io::Result<bool> {
    let bad = invalid;
    while data.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes(data[0..4].try_into().map_err(|_| bad("header"))?) as usize;
        let kind = u16::from_ne_bytes(data[4..6].try_into().map_err(|_| bad("header"))?);
        if len < NLMSG_HDRLEN || len > data.len() {
            return Err(bad("message length out of bounds"));
        }
        let payload = &data[NLMSG_HDRLEN..len];
        match kind {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let errno = payload
                    .get(0..4)
                    .map_or(0, |b| i32::from_ne_bytes(b.try_into().unwrap_or([0; 4])));
                return Err(std::io::Error::from_raw_os_error(-errno));
            }
            SOCK_DIAG_BY_FAMILY | TCPDIAG_GETSOCK => each(payload)?,
            _ => {}
        }
        let aligned = (len + 3) & !3;
        data = data.get(aligned..).unwrap_or(&[]);
    }
    Ok(false)
}

/// One netlink message of type `kind` around `payload`, padded: for tests of the parsers.
#[cfg(test)]
pub fn message(kind: u16, payload: &[u8]) -> Vec<u8> {
    let len = NLMSG_HDRLEN + payload.len();
    let mut m = Vec::new();
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&[0; 10]);
    m.extend_from_slice(payload);
    m.resize((len + 3) & !3, 0);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_carries_states_and_extensions() {
        let r = request(1 << 1, EXT_INFO);
        assert_eq!(r.len(), 76);
        assert_eq!(
            r[NLMSG_HDRLEN + 3],
            2,
            "INET_DIAG_INFO is bit 1 of idiag_ext"
        );
        assert_eq!(&r[68..72], &2u32.to_ne_bytes());
    }
}
