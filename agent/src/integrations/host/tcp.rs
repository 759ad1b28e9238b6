//! TCP connections per state, counted from the `st` column of `/proc/net/tcp` and
//! `/proc/net/tcp6` (`system.network.connections`, `network.transport` = `tcp`), or from
//! `sock_diag` netlink when reading the real `/proc` ([`super::sock_diag`]).
//!
//! The files hold one line per socket and can be megabytes on a busy host: they are read line by
//! line, never whole. All eleven states are recorded, zeros included, so a state appearing is a
//! change in value rather than a new series. State names are the OpenTelemetry
//! `network.connection.state` values (`syn_received` and `closed` for the kernel's `SYN_RECV`
//! and `CLOSE`). A missing file (no IPv6) is skipped; with neither, nothing is recorded.

use super::{IntegrationError, ParseError, Paths, io_error, parse_error};
use dozor_metrics::catalogue::host;
use dozor_metrics::sample::Recorder;
use std::io::{BufRead, BufReader};

/// `network.connection.state` by kernel state number minus one (`include/net/tcp_states.h`).
pub const STATES: [&str; 11] = [
    "established",
    "syn_sent",
    "syn_received",
    "fin_wait_1",
    "fin_wait_2",
    "time_wait",
    "closed",
    "close_wait",
    "last_ack",
    "listen",
    "closing",
];

/// Connections per state, indexed like [`STATES`].
pub type Counts = [u64; 11];

/// Why a table could not be counted.
#[derive(Debug, thiserror::Error)]
pub enum CountError {
    /// Reading failed part way.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A line was not a socket line.
    #[error(transparent)]
    Parse(#[from] ParseError),
}

/// The state number in one socket line, e.g. `0A` (listen) in
/// `0: 0100007F:6448 00000000:0000 0A 00000000:00000000 ...`.
pub fn parse_state(line: &str, line_number: usize) -> Result<u8, ParseError> {
    let st = line
        .split_ascii_whitespace()
        .nth(3)
        .ok_or_else(|| ParseError::new(line_number, "missing st column"))?;
    u8::from_str_radix(st, 16)
        .map_err(|_| ParseError::new(line_number, format!("st: not hexadecimal: {st:?}")))
}

/// Adds the sockets of one table (header line first) to `counts`; unknown states are ignored.
pub fn count(mut reader: impl BufRead, counts: &mut Counts) -> Result<(), CountError> {
    let mut line = String::new();
    let mut number = 0;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        number += 1;
        if number == 1 || line.trim().is_empty() {
            continue;
        }
        let state = parse_state(&line, number)?;
        if let Some(slot) = counts.get_mut(usize::from(state).wrapping_sub(1)) {
            *slot += 1;
        }
    }
}

/// Counts TCP sockets: through `sock_diag` when reading the real `/proc` (much cheaper, see
/// [`super::sock_diag`]), otherwise, or when netlink is refused, from `/proc/net/tcp{,6}`.
pub fn collect(recorder: &mut Recorder, paths: &Paths) -> Result<(), IntegrationError> {
    let mut counts = [0u64; 11];
    if paths.procfs == std::path::Path::new("/proc") && super::sock_diag::count(&mut counts).is_ok()
    {
        record(recorder, &counts);
        return Ok(());
    }
    counts = [0u64; 11];
    let mut found = false;
    for name in ["net/tcp", "net/tcp6"] {
        let path = paths.procfs.join(name);
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error(&path, &e)),
        };
        found = true;
        count(BufReader::new(file), &mut counts).map_err(|e| match e {
            CountError::Io(e) => io_error(&path, &e),
            CountError::Parse(e) => parse_error(&path, e),
        })?;
    }
    if found {
        record(recorder, &counts);
    }
    Ok(())
}

fn record(recorder: &mut Recorder, counts: &Counts) {
    for (state, n) in STATES.iter().zip(counts) {
        recorder.record(&host::NETWORK_CONNECTIONS, *n as f64, &["tcp", state]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

    #[test]
    fn counts_states() {
        let listen = "   0: 0100007F:6448 00000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 7414 1 00000000a1f17857 100 0 0 10 0\n";
        let established = "   1: 0100007F:A1B2 0100007F:1538 01 00000000:00000000 00:00000000 00000000  1000        0 8812 1 0000000000000000 20 4 30 10 -1\n";
        let time_wait = "   2: 0100007F:A1B4 0100007F:1538 06 00000000:00000000 03:00000ABC 00000000     0        0 0 3 0000000000000000\n";
        let closing = "   3: 0100007F:A1B6 0100007F:1538 0B 00000000:00000000 00:00000000 00000000     0        0 0 3 0000000000000000\n";
        let new_syn_recv = "   4: 0100007F:A1B8 0100007F:1538 0C 00000000:00000000 00:00000000 00000000     0        0 0 3 0000000000000000\n";
        let cases: &[(String, Counts)] = &[
            (HEADER.to_string(), [0; 11]),
            (String::new(), [0; 11]),
            (
                format!("{HEADER}{listen}{established}{listen}{time_wait}{closing}{new_syn_recv}"),
                [1, 0, 0, 0, 0, 1, 0, 0, 0, 2, 1],
            ),
        ];
        for (text, want) in cases {
            let mut counts = [0; 11];
            count(text.as_bytes(), &mut counts).unwrap();
            assert_eq!(&counts, want, "{text:?}");
        }
    }

    #[test]
    fn rejects_garbage() {
        let cases: &[(&str, ParseError)] = &[
            (
                "   0: 0100007F:6448\n",
                ParseError::new(2, "missing st column"),
            ),
            (
                "   0: 0100007F:6448 00000000:0000 ZZ 0\n",
                ParseError::new(2, "st: not hexadecimal: \"ZZ\""),
            ),
        ];
        for (line, want) in cases {
            let text = format!("{HEADER}{line}");
            match count(text.as_bytes(), &mut [0; 11]) {
                Err(CountError::Parse(e)) => assert_eq!(&e, want),
                other => panic!("{line:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn state_names_follow_the_kernel_order() {
        assert_eq!(STATES[0x01 - 1], "established");
        assert_eq!(STATES[0x0A - 1], "listen");
        assert_eq!(STATES[0x0B - 1], "closing");
    }
}
