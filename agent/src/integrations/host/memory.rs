//! Memory and swap, from `/proc/meminfo` (`system.memory.usage`, `system.memory.limit`,
//! `system.linux.memory.available`, `system.memory.utilization`, `system.paging.usage`).
//!
//! States follow the catalogue: `used` = MemTotal - MemFree - Buffers - Cached - SReclaimable,
//! `free` = MemFree, `buffers` = Buffers, `cached` = Cached + SReclaimable (what `free(1)` shows
//! as buff/cache). Values are in kB (KiB) in the file and recorded in bytes.

use super::{IntegrationError, ParseError, Paths, parse_error, read_optional};
use dozor_metrics::catalogue::host;
use dozor_metrics::sample::Recorder;
use std::collections::HashMap;

/// The `/proc/meminfo` fields used, in bytes.
#[derive(Debug, PartialEq)]
pub struct MemInfo {
    /// MemTotal.
    pub total: u64,
    /// MemFree.
    pub free: u64,
    /// Buffers.
    pub buffers: u64,
    /// Cached.
    pub cached: u64,
    /// SReclaimable (0 on kernels without it).
    pub slab_reclaimable: u64,
    /// MemAvailable (kernels since 3.14).
    pub available: Option<u64>,
    /// SwapTotal and SwapFree.
    pub swap: Option<(u64, u64)>,
}

impl MemInfo {
    /// `system.memory.state` values and their bytes.
    pub fn states(&self) -> [(&'static str, u64); 4] {
        let cached = self.cached + self.slab_reclaimable;
        // Saturating: inside some containers (lxcfs) the fields do not add up to MemTotal.
        let used = self.total.saturating_sub(self.free + self.buffers + cached);
        [
            ("used", used),
            ("free", self.free),
            ("buffers", self.buffers),
            ("cached", cached),
        ]
    }
}

/// Parses `/proc/meminfo` lines like `MemTotal:       24684084 kB`.
pub fn parse(text: &str) -> Result<MemInfo, ParseError> {
    let mut fields = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut words = rest.split_ascii_whitespace();
        let Some(value) = words.next() else { continue };
        let value: u64 = value
            .parse()
            .map_err(|_| ParseError::new(i + 1, format!("{key}: not a number: {value:?}")))?;
        let bytes = match words.next() {
            Some("kB") => value * 1024,
            None => value, // counts such as HugePages_Total
            Some(unit) => return Err(ParseError::new(i + 1, format!("{key}: unit {unit:?}"))),
        };
        fields.insert(key.trim(), bytes);
    }
    let required = |key: &str| {
        fields
            .get(key)
            .copied()
            .ok_or_else(|| ParseError::new(0, format!("missing {key}")))
    };
    Ok(MemInfo {
        total: required("MemTotal")?,
        free: required("MemFree")?,
        buffers: required("Buffers")?,
        cached: required("Cached")?,
        slab_reclaimable: fields.get("SReclaimable").copied().unwrap_or(0),
        available: fields.get("MemAvailable").copied(),
        swap: fields
            .get("SwapTotal")
            .copied()
            .zip(fields.get("SwapFree").copied()),
    })
}

/// Records memory and swap.
pub fn record(recorder: &mut Recorder, m: &MemInfo) {
    let states = m.states();
    for (state, bytes) in states {
        recorder.record(&host::MEMORY_USAGE, bytes as f64, &[state]);
    }
    recorder.record(&host::MEMORY_LIMIT, m.total as f64, &[]);
    if let Some(available) = m.available {
        recorder.record(&host::MEMORY_AVAILABLE, available as f64, &[]);
    }
    if m.total > 0 {
        for (state, bytes) in states {
            recorder.record(
                &host::MEMORY_UTILIZATION,
                bytes as f64 / m.total as f64,
                &[state],
            );
        }
    }
    if let Some((total, free)) = m.swap {
        let used = total.saturating_sub(free);
        recorder.record(&host::PAGING_USAGE, used as f64, &["used"]);
        recorder.record(&host::PAGING_USAGE, free as f64, &["free"]);
    }
}

/// Reads `/proc/meminfo`.
pub fn collect(recorder: &mut Recorder, paths: &Paths) -> Result<(), IntegrationError> {
    let path = paths.procfs.join("meminfo");
    let Some(text) = read_optional(&path)? else {
        return Ok(());
    };
    record(recorder, &parse(&text).map_err(|e| parse_error(&path, e))?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str = "MemTotal:       24684084 kB
MemFree:        23465144 kB
MemAvailable:   24093984 kB
Buffers:            3100 kB
Cached:           841004 kB
SwapTotal:       1048572 kB
SwapFree:         524288 kB
SReclaimable:     126948 kB
HugePages_Total:       0
";

    #[test]
    fn parses() {
        let k = |n: u64| n * 1024;
        let cases: &[(&str, Result<MemInfo, ParseError>)] = &[
            (
                MEMINFO,
                Ok(MemInfo {
                    total: k(24684084),
                    free: k(23465144),
                    buffers: k(3100),
                    cached: k(841004),
                    slab_reclaimable: k(126948),
                    available: Some(k(24093984)),
                    swap: Some((k(1048572), k(524288))),
                }),
            ),
            (
                "MemTotal: 4 kB\nMemFree: 1 kB\nBuffers: 0 kB\nCached: 1 kB\n",
                Ok(MemInfo {
                    total: 4096,
                    free: 1024,
                    buffers: 0,
                    cached: 1024,
                    slab_reclaimable: 0,
                    available: None,
                    swap: None,
                }),
            ),
            (
                "MemTotal: 4 kB\nMemFree: 1 kB\n",
                Err(ParseError::new(0, "missing Buffers")),
            ),
            (
                "MemTotal: lots kB\n",
                Err(ParseError::new(1, "MemTotal: not a number: \"lots\"")),
            ),
            (
                "MemTotal: 4 MB\n",
                Err(ParseError::new(1, "MemTotal: unit \"MB\"")),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&parse(text), want, "{text:?}");
        }
    }

    #[test]
    fn states_sum_to_total() {
        let m = parse(MEMINFO).unwrap();
        let states = m.states();
        assert_eq!(
            states[0],
            (
                "used",
                (24684084 - 23465144 - 3100 - 841004 - 126948) * 1024
            )
        );
        assert_eq!(states.iter().map(|s| s.1).sum::<u64>(), m.total);
        let mut r = Recorder::new();
        record(&mut r, &m);
        let paging: Vec<_> = r
            .samples()
            .iter()
            .filter(|s| s.metric.name == "system.paging.usage")
            .map(|s| (s.attributes[0].1.as_str(), s.value))
            .collect();
        assert_eq!(
            paging,
            vec![("used", 536_866_816.0), ("free", 536_870_912.0)]
        );
    }

    /// Accuracy against the real kernel: MemTotal and MemAvailable read with a trivial reader of
    /// our own must match what the integration records from the same file, within 1% (available
    /// moves between the two reads).
    #[test]
    fn agrees_with_the_real_meminfo() {
        let text = std::fs::read_to_string("/proc/meminfo").expect("this test needs Linux");
        let field = |key: &str| -> f64 {
            let line = text.lines().find(|l| l.starts_with(key)).unwrap();
            let kib: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
            kib * 1024.0
        };
        let (total, available) = (field("MemTotal:"), field("MemAvailable:"));
        let mut r = Recorder::new();
        collect(&mut r, &Paths::default()).unwrap();
        let got = |name: &str| {
            r.samples()
                .iter()
                .find(|s| s.metric.name == name)
                .unwrap()
                .value
        };
        let close = |a: f64, b: f64| (a - b).abs() <= 0.01 * b;
        assert!(close(got("system.memory.limit"), total));
        assert!(close(got("system.linux.memory.available"), available));
        let sum: f64 = r
            .samples()
            .iter()
            .filter(|s| s.metric.name == "system.memory.usage")
            .map(|s| s.value)
            .sum();
        assert!(close(sum, total), "states {sum} vs MemTotal {total}");
    }
}
