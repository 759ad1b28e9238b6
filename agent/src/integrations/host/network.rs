//! Network interface counters: bytes, packets, errors and drops received and transmitted, from
//! `/proc/net/dev` (`system.network.io`, `system.network.packets`, `system.network.errors`,
//! `system.network.dropped`).
//!
//! Every interface is reported unless `network.exclude_interfaces` matches its name.

use super::{IntegrationError, ParseError, Paths, number, parse_error, read_optional};
use dozor_metrics::catalogue::host;
use dozor_metrics::sample::Recorder;
use regex::Regex;

/// Counters of one direction.
#[derive(Debug, Default, PartialEq)]
pub struct Counters {
    /// Bytes.
    pub bytes: u64,
    /// Packets.
    pub packets: u64,
    /// Errors.
    pub errors: u64,
    /// Dropped packets.
    pub dropped: u64,
}

/// One interface's receive and transmit counters.
#[derive(Debug, PartialEq)]
pub struct Interface {
    /// Interface name.
    pub name: String,
    /// Received.
    pub receive: Counters,
    /// Transmitted.
    pub transmit: Counters,
}

/// Parses `/proc/net/dev`: two header lines, then `name: 8 receive and 8 transmit counters`.
pub fn parse(text: &str) -> Result<Vec<Interface>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(2) {
        if line.trim().is_empty() {
            continue;
        }
        let (name, rest) = line
            .rsplit_once(':')
            .ok_or_else(|| ParseError::new(i + 1, "no ':' after the interface name"))?;
        let f: Vec<&str> = rest.split_ascii_whitespace().collect();
        let n = |index: usize, what: &str| number(f.get(index).copied(), i + 1, what);
        out.push(Interface {
            name: name.trim().to_string(),
            receive: Counters {
                bytes: n(0, "receive bytes")?,
                packets: n(1, "receive packets")?,
                errors: n(2, "receive errs")?,
                dropped: n(3, "receive drop")?,
            },
            transmit: Counters {
                bytes: n(8, "transmit bytes")?,
                packets: n(9, "transmit packets")?,
                errors: n(10, "transmit errs")?,
                dropped: n(11, "transmit drop")?,
            },
        });
    }
    Ok(out)
}

/// Records every interface not excluded.
pub fn record(recorder: &mut Recorder, interfaces: &[Interface], exclude: Option<&Regex>) {
    for iface in interfaces {
        if exclude.is_some_and(|r| r.is_match(&iface.name)) {
            continue;
        }
        for (direction, c) in [("receive", &iface.receive), ("transmit", &iface.transmit)] {
            let attrs = [iface.name.as_str(), direction];
            recorder.record(&host::NETWORK_IO, c.bytes as f64, &attrs);
            recorder.record(&host::NETWORK_PACKETS, c.packets as f64, &attrs);
            recorder.record(&host::NETWORK_ERRORS, c.errors as f64, &attrs);
            recorder.record(&host::NETWORK_DROPPED, c.dropped as f64, &attrs);
        }
    }
}

/// Reads `/proc/net/dev`.
pub fn collect(
    recorder: &mut Recorder,
    paths: &Paths,
    exclude: Option<&Regex>,
) -> Result<(), IntegrationError> {
    let path = paths.procfs.join("net/dev");
    let Some(text) = read_optional(&path)? else {
        return Ok(());
    };
    let interfaces = parse(&text).map_err(|e| parse_error(&path, e))?;
    record(recorder, &interfaces, exclude);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
";

    fn counters(bytes: u64, packets: u64, errors: u64, dropped: u64) -> Counters {
        Counters {
            bytes,
            packets,
            errors,
            dropped,
        }
    }

    #[test]
    fn parses() {
        let cases: &[(&str, Result<Vec<Interface>, ParseError>)] = &[
            (
                "    lo:   48310     615    0    0    0     0          0         0    48310     615    0    0    0     0       0          0\n\
                 \x20 eth0: 212685254    6565    1    2    0     0          0         0   334973    3728    3    4    0     0       0          0\n",
                Ok(vec![
                    Interface {
                        name: "lo".into(),
                        receive: counters(48310, 615, 0, 0),
                        transmit: counters(48310, 615, 0, 0),
                    },
                    Interface {
                        name: "eth0".into(),
                        receive: counters(212685254, 6565, 1, 2),
                        transmit: counters(334973, 3728, 3, 4),
                    },
                ]),
            ),
            // Counters touch the name when the byte count is wide.
            (
                "eth1:123456789012 5 0 0 0 0 0 0 7 8 0 0 0 0 0 0\n",
                Ok(vec![Interface {
                    name: "eth1".into(),
                    receive: counters(123456789012, 5, 0, 0),
                    transmit: counters(7, 8, 0, 0),
                }]),
            ),
            ("", Ok(vec![])),
            (
                "eth0 1 2 3\n",
                Err(ParseError::new(3, "no ':' after the interface name")),
            ),
            (
                "eth0: 1 2 3 4 5 6 7 8 9\n",
                Err(ParseError::new(3, "missing transmit packets")),
            ),
        ];
        for (body, want) in cases {
            let text = format!("{HEADER}{body}");
            assert_eq!(&parse(&text), want, "{body:?}");
        }
    }

    #[test]
    fn excludes_by_name() {
        let ifaces = parse(&format!(
            "{HEADER}lo: 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\neth0: 2 2 0 0 0 0 0 0 2 2 0 0 0 0 0 0\n"
        ))
        .unwrap();
        let mut r = Recorder::new();
        record(&mut r, &ifaces, Some(&Regex::new("^lo$").unwrap()));
        assert_eq!(r.samples().len(), 8);
        assert!(r.samples().iter().all(|s| s.attributes[0].1 == "eth0"));
    }
}
