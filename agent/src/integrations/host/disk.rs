//! Block device I/O: bytes, operations, time in operations and busy time per disk, from
//! `/proc/diskstats` (`system.disk.io`, `system.disk.operations`, `system.disk.operation_time`,
//! `system.disk.io_time`).
//!
//! Sector counts in diskstats are always in 512-byte units, whatever the device's sector size.
//! Partitions, RAM and loop devices are excluded by default (`disk.exclude_devices`).

use super::{IntegrationError, ParseError, Paths, number, parse_error, read_optional};
use dozor_metrics::catalogue::host;
use dozor_metrics::sample::Recorder;
use regex::Regex;

/// One device's counters.
#[derive(Debug, PartialEq)]
pub struct DiskStat {
    /// Kernel device name, e.g. `vda`, `nvme0n1`.
    pub device: String,
    /// Reads and writes completed.
    pub operations: [u64; 2],
    /// Sectors read and written.
    pub sectors: [u64; 2],
    /// Milliseconds spent reading and writing.
    pub operation_ms: [u64; 2],
    /// Milliseconds with I/O in progress.
    pub io_ms: u64,
}

/// Parses `/proc/diskstats` (14 fields or more per line; the discard and flush fields of newer
/// kernels are not used).
pub fn parse(text: &str) -> Result<Vec<DiskStat>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let n = |index: usize, what: &str| number(fields.get(index).copied(), i + 1, what);
        out.push(DiskStat {
            device: fields.get(2).map(|s| s.to_string()).unwrap_or_default(),
            operations: [n(3, "reads completed")?, n(7, "writes completed")?],
            sectors: [n(5, "sectors read")?, n(9, "sectors written")?],
            operation_ms: [n(6, "time reading")?, n(10, "time writing")?],
            io_ms: n(12, "time doing I/O")?,
        });
    }
    Ok(out)
}

/// Records every device not excluded.
pub fn record(recorder: &mut Recorder, disks: &[DiskStat], exclude: Option<&Regex>) {
    for d in disks {
        if exclude.is_some_and(|r| r.is_match(&d.device)) {
            continue;
        }
        for (k, direction) in ["read", "write"].into_iter().enumerate() {
            let attrs = [d.device.as_str(), direction];
            recorder.record(&host::DISK_IO, (d.sectors[k] * 512) as f64, &attrs);
            recorder.record(&host::DISK_OPERATIONS, d.operations[k] as f64, &attrs);
            let seconds = d.operation_ms[k] as f64 / 1e3;
            recorder.record(&host::DISK_OPERATION_TIME, seconds, &attrs);
        }
        recorder.record(&host::DISK_IO_TIME, d.io_ms as f64 / 1e3, &[&d.device]);
    }
}

/// Reads `/proc/diskstats`.
pub fn collect(
    recorder: &mut Recorder,
    paths: &Paths,
    exclude: Option<&Regex>,
) -> Result<(), IntegrationError> {
    let path = paths.procfs.join("diskstats");
    let Some(text) = read_optional(&path)? else {
        return Ok(());
    };
    let disks = parse(&text).map_err(|e| parse_error(&path, e))?;
    record(recorder, &disks, exclude);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let cases: &[(&str, Result<Vec<DiskStat>, ParseError>)] = &[
            (
                " 254       0 vda 44675 7160 3571226 36650 31447 25642 4239000 14953 0 7956 52687 10550 25 1096912 786 5525 296\n",
                Ok(vec![DiskStat {
                    device: "vda".into(),
                    operations: [44675, 31447],
                    sectors: [3571226, 4239000],
                    operation_ms: [36650, 14953],
                    io_ms: 7956,
                }]),
            ),
            (
                // Kernels before 4.18 have exactly 14 fields.
                "   8       0 sda 1 0 8 2 3 0 16 4 0 5 6\n\n",
                Ok(vec![DiskStat {
                    device: "sda".into(),
                    operations: [1, 3],
                    sectors: [8, 16],
                    operation_ms: [2, 4],
                    io_ms: 5,
                }]),
            ),
            (
                "   8       0 sda 1 0 8 2 3 0 16 4 0\n",
                Err(ParseError::new(1, "missing time doing I/O")),
            ),
            (
                "   8       0 sda 1 0 x 2 3 0 16 4 0 5 6\n",
                Err(ParseError::new(1, "sectors read: not a number: \"x\"")),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&parse(text), want, "{text:?}");
        }
    }

    #[test]
    fn default_exclusion_keeps_whole_disks() {
        let exclude = Regex::new(crate::integrations::host::DEFAULT_EXCLUDE_DEVICES).unwrap();
        for (device, excluded) in [
            ("vda", false),
            ("vda1", true),
            ("sda", false),
            ("sdb2", true),
            ("nvme0n1", false),
            ("nvme0n1p1", true),
            ("loop0", true),
            ("zram0", true),
            ("ram1", true),
            ("dm-0", false),
            ("md127", false),
        ] {
            assert_eq!(exclude.is_match(device), excluded, "{device}");
        }
    }

    #[test]
    fn records_bytes_and_seconds() {
        let disks = parse("254 0 vda 10 0 4 1500 20 0 8 250 0 3000 0\n").unwrap();
        let mut r = Recorder::new();
        record(&mut r, &disks, None);
        let got: Vec<_> = r
            .samples()
            .iter()
            .map(|s| (s.metric.name, s.value))
            .collect();
        assert_eq!(
            got,
            vec![
                ("system.disk.io", 2048.0),
                ("system.disk.operations", 10.0),
                ("system.disk.operation_time", 1.5),
                ("system.disk.io", 4096.0),
                ("system.disk.operations", 20.0),
                ("system.disk.operation_time", 0.25),
                ("system.disk.io_time", 3.0),
            ]
        );
    }
}
