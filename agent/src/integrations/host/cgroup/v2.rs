//! cgroup v2 (unified): `memory.current`, `memory.stat` inactive_file, `memory.max`,
//! `cpu.stat` (usage_usec, nr_periods, nr_throttled, throttled_usec), `cpu.max` and the PSI files
//! `cpu.pressure`, `memory.pressure`, `io.pressure`, all in the cgroup's one directory.
//!
//! `max` means unlimited, for memory and for the CPU quota. Without the cpu controller enabled,
//! `cpu.stat` only has the usage fields, and throttling is left out.

use super::{ParseError, keyed, parse_keyed, parse_u64, read_parsed, working_set};
use crate::integrations::IntegrationError;
use crate::integrations::host::pressure;
use dozor_metrics::catalogue::container;
use dozor_metrics::sample::Recorder;
use std::path::Path;

/// Parses `memory.max`: bytes, or `None` for `max`.
pub fn parse_max(text: &str) -> Result<Option<u64>, ParseError> {
    match text.trim() {
        "max" => Ok(None),
        _ => parse_u64(text).map(Some),
    }
}

/// Parses `cpu.max` (`$QUOTA $PERIOD` in microseconds) into CPUs, or `None` for `max`.
pub fn parse_cpu_max(text: &str) -> Result<Option<f64>, ParseError> {
    let mut fields = text.split_ascii_whitespace();
    let quota = fields.next().ok_or_else(|| ParseError::new(1, "empty"))?;
    if quota == "max" {
        return Ok(None);
    }
    let quota = parse_u64(quota)?;
    let period = fields
        .next()
        .ok_or_else(|| ParseError::new(1, "missing period"))?;
    let period = parse_u64(period)?;
    if period == 0 {
        return Err(ParseError::new(1, "period is 0"));
    }
    Ok(Some(quota as f64 / period as f64))
}

/// Records one cgroup at `path` (leading `/`) under `root`; false when it does not exist.
pub fn collect(
    recorder: &mut Recorder,
    root: &Path,
    name: &str,
    path: &str,
) -> Result<bool, IntegrationError> {
    let dir = root.join(path.trim_start_matches('/'));
    if !dir.is_dir() {
        return Ok(false);
    }
    let attrs = [name, path];
    let usage = read_parsed(&dir, "memory.current", parse_u64)?;
    if let Some(usage) = usage {
        recorder.record(&container::MEMORY_USAGE, usage as f64, &attrs);
    }
    let inactive = read_parsed(&dir, "memory.stat", |t| {
        parse_keyed(t).map(|p| keyed(&p, "inactive_file"))
    })?;
    if let (Some(usage), Some(Some(inactive))) = (usage, inactive) {
        let ws = working_set(usage, inactive);
        recorder.record(&container::MEMORY_WORKING_SET, ws as f64, &attrs);
    }
    if let Some(limit) = read_parsed(&dir, "memory.max", parse_max)?.flatten() {
        recorder.record(&container::MEMORY_LIMIT, limit as f64, &attrs);
    }
    if let Some(cpus) = read_parsed(&dir, "cpu.max", parse_cpu_max)?.flatten() {
        recorder.record(&container::CPU_LIMIT, cpus, &attrs);
    }
    record_cpu_stat(recorder, &dir, &attrs)?;
    for resource in pressure::RESOURCES {
        let file = format!("{resource}.pressure");
        for (scope, seconds) in read_parsed(&dir, &file, pressure::parse)?.unwrap_or_default() {
            let a = [name, path, resource, scope];
            recorder.record(&container::PRESSURE_STALL, seconds, &a);
        }
    }
    Ok(true)
}

fn record_cpu_stat(
    recorder: &mut Recorder,
    dir: &Path,
    attrs: &[&str; 2],
) -> Result<(), IntegrationError> {
    let Some(stat) = read_parsed(dir, "cpu.stat", |t| {
        parse_keyed(t).map(|p| {
            let get = |k| keyed(&p, k);
            [
                get("usage_usec"),
                get("nr_periods"),
                get("nr_throttled"),
                get("throttled_usec"),
            ]
        })
    })?
    else {
        return Ok(());
    };
    let [usage_us, periods, throttled, throttled_us] = stat;
    let seconds = |us: u64| us as f64 / 1e6;
    if let Some(us) = usage_us {
        recorder.record(&container::CPU_TIME, seconds(us), attrs);
    }
    if let Some(n) = periods {
        recorder.record(&container::CPU_PERIODS, n as f64, attrs);
    }
    if let Some(n) = throttled {
        recorder.record(&container::CPU_THROTTLED_PERIODS, n as f64, attrs);
    }
    if let Some(us) = throttled_us {
        recorder.record(&container::CPU_THROTTLED_TIME, seconds(us), attrs);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_memory_max() {
        let cases: &[(&str, Result<Option<u64>, ParseError>)] = &[
            ("max\n", Ok(None)),
            ("1073741824\n", Ok(Some(1 << 30))),
            (
                "lots\n",
                Err(ParseError::new(1, "value: not a number: \"lots\"")),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&parse_max(text), want, "{text:?}");
        }
    }

    #[test]
    fn parses_cpu_max() {
        let cases: &[(&str, Result<Option<f64>, ParseError>)] = &[
            ("max 100000\n", Ok(None)),
            ("50000 100000\n", Ok(Some(0.5))),
            ("250000 100000\n", Ok(Some(2.5))),
            ("50000 0\n", Err(ParseError::new(1, "period is 0"))),
            ("50000\n", Err(ParseError::new(1, "missing period"))),
            ("\n", Err(ParseError::new(1, "empty"))),
        ];
        for (text, want) in cases {
            assert_eq!(&parse_cpu_max(text), want, "{text:?}");
        }
    }
}
