//! TCP connections per state from the kernel's `sock_diag` netlink interface (what `ss` uses).
//!
//! Reading `/proc/net/tcp` makes the kernel walk its whole established-connections hash table
//! under the seq_file interface, about 1.2 ms per file on this 24 GiB machine however few
//! connections there are; a `sock_diag` dump costs a fraction of that. It only describes the
//! network namespace the agent runs in, so [`super::tcp`] uses it only when procfs is the real
//! `/proc`, and falls back to the files when the socket is refused.

use super::tcp::Counts;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};

const NETLINK_SOCK_DIAG: libc::c_int = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// The original `inet_diag` request: it dumps IPv4 and IPv6 sockets in one walk of the kernel's
/// hash table, where `SOCK_DIAG_BY_FAMILY` needs one walk per family.
const TCPDIAG_GETSOCK: u16 = 18;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_HDRLEN: usize = 16;

/// Adds the TCP sockets of both address families to `counts`.
pub fn count(counts: &mut Counts) -> std::io::Result<()> {
    let mut socket = open()?;
    socket.write_all(&request())?;
    read_dump(&mut socket, counts)
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
/// address family, in every state.
fn request() -> Vec<u8> {
    let len = NLMSG_HDRLEN + 60;
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&TCPDIAG_GETSOCK.to_ne_bytes());
    msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
    msg.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel assigns ours
    msg.extend_from_slice(&[0; 4]); // family (ignored: both), src_len, dst_len, ext
    msg.extend_from_slice(&[0; 48]); // inet_diag_sockid: match any
    msg.extend_from_slice(&u32::MAX.to_ne_bytes()); // every state
    msg.extend_from_slice(&0u32.to_ne_bytes()); // dbs
    msg
}

/// Reads dump replies until `NLMSG_DONE`, counting `idiag_state` of each `inet_diag_msg`.
fn read_dump(socket: &mut std::fs::File, counts: &mut Counts) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = socket.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "netlink socket closed",
            ));
        }
        if parse(&buf[..n], counts)? {
            return Ok(());
        }
    }
}

/// Parses one datagram of netlink messages; returns true at the end of the dump.
pub fn parse(mut data: &[u8], counts: &mut Counts) -> std::io::Result<bool> {
    let bad = |what: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("sock_diag: {what}"),
        )
    };
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
            SOCK_DIAG_BY_FAMILY | TCPDIAG_GETSOCK => {
                let state = *payload.get(1).ok_or_else(|| bad("short inet_diag_msg"))?;
                if let Some(slot) = counts.get_mut(usize::from(state).wrapping_sub(1)) {
                    *slot += 1;
                }
            }
            _ => {}
        }
        let aligned = (len + 3) & !3;
        data = data.get(aligned..).unwrap_or(&[]);
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u16, payload: &[u8]) -> Vec<u8> {
        let len = NLMSG_HDRLEN + payload.len();
        let mut m = Vec::new();
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(payload);
        m.resize((len + 3) & !3, 0);
        m
    }

    #[test]
    fn parses_states_and_the_end_of_the_dump() {
        let mut data = message(SOCK_DIAG_BY_FAMILY, &[2, 1, 0, 0, 0, 0]); // established
        data.extend(message(SOCK_DIAG_BY_FAMILY, &[2, 10, 0, 0, 0])); // listen, unaligned
        data.extend(message(TCPDIAG_GETSOCK, &[10, 6, 0, 0])); // time_wait
        let mut counts = [0; 11];
        assert!(!parse(&data, &mut counts).unwrap());
        assert_eq!((counts[0], counts[9], counts[5]), (1, 1, 1));
        assert!(parse(&message(NLMSG_DONE, &[0; 4]), &mut counts).unwrap());
    }

    #[test]
    fn errors_and_garbage_are_errors_not_panics() {
        let mut counts = [0; 11];
        let err = parse(
            &message(NLMSG_ERROR, &(-libc::EPERM).to_ne_bytes()),
            &mut counts,
        )
        .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM));
        let mut bogus = message(SOCK_DIAG_BY_FAMILY, &[2, 1]);
        bogus[0] = 200; // length beyond the datagram
        assert!(parse(&bogus, &mut counts).is_err());
    }

    /// Ground truth: the kernel's own /proc/net/tcp{,6} tables, read in the same moment; listening
    /// sockets are stable enough to compare exactly.
    #[test]
    fn agrees_with_proc_net_tcp_on_listening_sockets() {
        // Another process may open or close a listener between the two reads: retry a few times.
        let mut last = None;
        for _ in 0..5 {
            let mut netlink = [0; 11];
            count(&mut netlink).expect("sock_diag dump");
            let mut files = [0; 11];
            for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
                if let Ok(file) = std::fs::File::open(f) {
                    super::super::tcp::count(std::io::BufReader::new(file), &mut files).unwrap();
                }
            }
            if netlink[9] == files[9] {
                return;
            }
            last = Some((netlink, files));
        }
        panic!("listening sockets differ (netlink, files): {last:?}");
    }
}
