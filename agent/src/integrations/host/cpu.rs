//! CPU time per logical CPU and mode, CPU utilization and the logical CPU count, from the `cpu`
//! and `cpuN` lines of `/proc/stat` (`system.cpu.time`, `system.cpu.utilization`,
//! `system.cpu.logical.count`).
//!
//! The kernel counts in USER_HZ ticks. `guest` and `guest_nice` are already included in `user`
//! and `nice`, so they are not reported again.

use super::{ParseError, number};
use dozor_metrics::catalogue::host;
use dozor_metrics::sample::Recorder;

/// `cpu.mode` of the first eight `/proc/stat` columns, in file order (`irq` is `interrupt`).
pub const MODES: [&str; 8] = [
    "user",
    "nice",
    "system",
    "idle",
    "iowait",
    "interrupt",
    "softirq",
    "steal",
];

/// Ticks in each of [`MODES`].
pub type Ticks = [u64; 8];

/// The CPU lines of one `/proc/stat` reading.
#[derive(Debug, PartialEq)]
pub struct CpuStat {
    /// The aggregate `cpu` line.
    pub total: Ticks,
    /// `cpuN` lines: logical number and ticks.
    pub per_cpu: Vec<(u32, Ticks)>,
}

/// Parses the `cpu` and `cpuN` lines of `/proc/stat`; other lines are ignored.
pub fn parse(text: &str) -> Result<CpuStat, ParseError> {
    let mut total = None;
    let mut per_cpu = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut fields = line.split_ascii_whitespace();
        let Some(label) = fields.next() else { continue };
        let Some(suffix) = label.strip_prefix("cpu") else {
            continue;
        };
        let mut ticks = [0u64; 8];
        for (slot, mode) in ticks.iter_mut().zip(MODES) {
            *slot = number(fields.next(), i + 1, mode)?;
        }
        if suffix.is_empty() {
            total = Some(ticks);
        } else {
            let n = suffix
                .parse()
                .map_err(|_| ParseError::new(i + 1, format!("bad CPU label {label:?}")))?;
            per_cpu.push((n, ticks));
        }
    }
    let total = total.ok_or_else(|| ParseError::new(0, "no aggregate \"cpu\" line"))?;
    Ok(CpuStat { total, per_cpu })
}

/// Fraction of the elapsed ticks spent in each mode between two aggregate readings; `None` when
/// no time passed (or the counters went backwards, as after a CPU went offline).
pub fn utilization(previous: &Ticks, current: &Ticks) -> Option<[f64; 8]> {
    let deltas: Vec<u64> = current
        .iter()
        .zip(previous)
        .map(|(c, p)| c.saturating_sub(*p))
        .collect();
    let total: u64 = deltas.iter().sum();
    if total == 0 {
        return None;
    }
    let mut out = [0.0; 8];
    for (o, d) in out.iter_mut().zip(deltas) {
        *o = d as f64 / total as f64;
    }
    Some(out)
}

/// Records CPU time, the logical count and, given a previous aggregate reading, utilization.
pub fn record(recorder: &mut Recorder, stat: &CpuStat, previous: Option<&Ticks>, user_hz: f64) {
    for (n, ticks) in &stat.per_cpu {
        let n = n.to_string();
        for (mode, t) in MODES.iter().zip(ticks) {
            recorder.record(&host::CPU_TIME, *t as f64 / user_hz, &[&n, mode]);
        }
    }
    if let Some(fractions) = previous.and_then(|p| utilization(p, &stat.total)) {
        for (mode, f) in MODES.iter().zip(fractions) {
            recorder.record(&host::CPU_UTILIZATION, f, &[mode]);
        }
    }
}

/// USER_HZ, the unit of `/proc/stat` CPU times, from `sysconf(_SC_CLK_TCK)`; 100 if that fails.
/// It has been 100 on every mainstream architecture for decades, but asking costs nothing.
#[allow(unsafe_code)]
pub fn user_hz() -> f64 {
    // SAFETY: sysconf takes an integer name, reads no memory of ours and has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as f64 } else { 100.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  9911 0 3356 87887 486 0 77 12 0 0
cpu0 4815 0 1402 44530 36 0 18 2 0 0
cpu1 5095 0 1954 43356 449 0 59 9 0 0
intr 355247 0 0 0
ctxt 921663
processes 9713
";

    #[test]
    fn parses() {
        let cases: &[(&str, Result<CpuStat, ParseError>)] = &[
            (
                STAT,
                Ok(CpuStat {
                    total: [9911, 0, 3356, 87887, 486, 0, 77, 12],
                    per_cpu: vec![
                        (0, [4815, 0, 1402, 44530, 36, 0, 18, 2]),
                        (1, [5095, 0, 1954, 43356, 449, 0, 59, 9]),
                    ],
                }),
            ),
            (
                // guest columns are optional (older kernels stop after steal).
                "cpu 1 2 3 4 5 6 7 8\ncpu7 1 2 3 4 5 6 7 8\n",
                Ok(CpuStat {
                    total: [1, 2, 3, 4, 5, 6, 7, 8],
                    per_cpu: vec![(7, [1, 2, 3, 4, 5, 6, 7, 8])],
                }),
            ),
            ("cpu 1 2 3\n", Err(ParseError::new(1, "missing idle"))),
            (
                "cpu0 1 2 3 4 5 6 7 8\n",
                Err(ParseError::new(0, "no aggregate \"cpu\" line")),
            ),
            (
                "cpu 1 2 3 4 5 6 7 8\ncpuX 1 2 3 4 5 6 7 8\n",
                Err(ParseError::new(2, "bad CPU label \"cpuX\"")),
            ),
            (
                "cpu 1 2 x 4 5 6 7 8\n",
                Err(ParseError::new(1, "system: not a number: \"x\"")),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&parse(text), want, "{text:?}");
        }
    }

    #[test]
    fn utilization_is_the_share_of_elapsed_ticks() {
        let cases: &[(Ticks, Ticks, Option<[f64; 8]>)] = &[
            (
                [100, 0, 50, 800, 0, 0, 0, 0],
                [130, 0, 60, 860, 0, 0, 0, 0],
                Some([0.3, 0.0, 0.1, 0.6, 0.0, 0.0, 0.0, 0.0]),
            ),
            ([1; 8], [1; 8], None),
            // iowait may go backwards on some kernels: that mode counts as zero.
            (
                [0, 0, 0, 0, 10, 0, 0, 0],
                [0, 0, 0, 4, 9, 0, 0, 0],
                Some([0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
            ),
        ];
        for (previous, current, want) in cases {
            assert_eq!(utilization(previous, current), *want);
        }
    }

    #[test]
    fn records_seconds_per_cpu_and_mode() {
        let stat = parse(STAT).unwrap();
        let mut r = Recorder::new();
        record(&mut r, &stat, None, 100.0);
        let s = r.samples();
        assert_eq!(s.len(), 2 * 8, "no utilization on the first reading");
        assert_eq!(s[0].value, 48.15);
        assert_eq!(
            s[0].attributes,
            vec![
                ("cpu.logical_number", "0".into()),
                ("cpu.mode", "user".into())
            ]
        );
        let mut r = Recorder::new();
        let mut previous = stat.total;
        previous[3] -= 100;
        record(&mut r, &stat, Some(&previous), 100.0);
        let idle = r
            .samples()
            .iter()
            .find(|s| s.metric.name == "system.cpu.utilization" && s.attributes[0].1 == "idle");
        assert_eq!(idle.unwrap().value, 1.0);
    }

    #[test]
    fn user_hz_is_positive() {
        assert!(user_hz() >= 1.0);
    }
}
