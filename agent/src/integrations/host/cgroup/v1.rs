//! cgroup v1 controllers: memory (`memory.usage_in_bytes`, `memory.stat` total_inactive_file,
//! `memory.limit_in_bytes`), cpu (`cpu.cfs_quota_us`, `cpu.cfs_period_us`, `cpu.stat`) and
//! cpuacct (`cpuacct.usage`), each in its own hierarchy.
//!
//! v1 has no "unlimited" spelling for memory: an unset limit reads as the largest page-aligned
//! signed 64-bit value (9223372036854771712), so anything from 2^62 up is taken as unlimited. An
//! unset CPU quota is `-1`. v1 has no per-cgroup pressure files.

use super::{ParseError, keyed, parse_keyed, parse_u64, read_parsed, working_set};
use crate::integrations::IntegrationError;
use dozor_metrics::catalogue::container;
use dozor_metrics::sample::Recorder;
use std::path::{Path, PathBuf};

/// Mount points of the v1 controllers that are read.
#[derive(Debug, Default, PartialEq)]
pub struct Roots {
    /// The memory hierarchy.
    pub memory: Option<PathBuf>,
    /// The cpu hierarchy (possibly `cpu,cpuacct`).
    pub cpu: Option<PathBuf>,
    /// The cpuacct hierarchy (possibly `cpu,cpuacct`).
    pub cpuacct: Option<PathBuf>,
}

/// A memory limit, unless the value means "no limit".
pub fn memory_limit(bytes: u64) -> Option<u64> {
    (bytes < 1 << 62).then_some(bytes)
}

/// Parses `cpu.cfs_quota_us`: microseconds per period, `None` for `-1` (no quota).
pub fn parse_quota(text: &str) -> Result<Option<u64>, ParseError> {
    let field = text.trim();
    let quota: i64 = field
        .parse()
        .map_err(|_| ParseError::new(1, format!("quota: not a number: {field:?}")))?;
    Ok(u64::try_from(quota).ok().filter(|q| *q > 0))
}

/// Records one cgroup; `paths` are its cgroup paths in the memory, cpu and cpuacct hierarchies
/// (`None` to skip one). Returns whether the cgroup exists in any of them.
pub fn collect(
    recorder: &mut Recorder,
    roots: &Roots,
    name: &str,
    paths: [Option<&str>; 3],
) -> Result<bool, IntegrationError> {
    let [memory, cpu, cpuacct] = paths;
    let mut found = false;
    if let Some((dir, path)) = locate(&roots.memory, memory) {
        found = true;
        record_memory(recorder, &dir, name, path)?;
    }
    if let Some((dir, path)) = locate(&roots.cpuacct, cpuacct) {
        found = true;
        if let Some(ns) = read_parsed(&dir, "cpuacct.usage", parse_u64)? {
            let attrs = [name, path];
            recorder.record(&container::CPU_TIME, ns as f64 / 1e9, &attrs);
        }
    }
    if let Some((dir, path)) = locate(&roots.cpu, cpu) {
        found = true;
        record_cpu(recorder, &dir, name, path)?;
    }
    Ok(found)
}

/// The directory of `path` in a hierarchy, when both exist.
fn locate<'a>(root: &Option<PathBuf>, path: Option<&'a str>) -> Option<(PathBuf, &'a str)> {
    let dir = root.as_ref()?.join(path?.trim_start_matches('/'));
    dir.is_dir().then_some((dir, path?))
}

fn record_memory(
    recorder: &mut Recorder,
    dir: &Path,
    name: &str,
    path: &str,
) -> Result<(), IntegrationError> {
    let attrs = [name, path];
    let usage = read_parsed(dir, "memory.usage_in_bytes", parse_u64)?;
    if let Some(usage) = usage {
        recorder.record(&container::MEMORY_USAGE, usage as f64, &attrs);
    }
    let stat = read_parsed(dir, "memory.stat", |t| {
        parse_keyed(t).map(|pairs| keyed(&pairs, "total_inactive_file"))
    })?;
    if let (Some(usage), Some(Some(inactive))) = (usage, stat) {
        let ws = working_set(usage, inactive);
        recorder.record(&container::MEMORY_WORKING_SET, ws as f64, &attrs);
    }
    let limit = read_parsed(dir, "memory.limit_in_bytes", parse_u64)?;
    if let Some(limit) = limit.and_then(memory_limit) {
        recorder.record(&container::MEMORY_LIMIT, limit as f64, &attrs);
    }
    Ok(())
}

fn record_cpu(
    recorder: &mut Recorder,
    dir: &Path,
    name: &str,
    path: &str,
) -> Result<(), IntegrationError> {
    let attrs = [name, path];
    let quota = read_parsed(dir, "cpu.cfs_quota_us", parse_quota)?.flatten();
    let period = read_parsed(dir, "cpu.cfs_period_us", parse_u64)?;
    if let (Some(quota), Some(period)) = (quota, period.filter(|p| *p > 0)) {
        let cpus = quota as f64 / period as f64;
        recorder.record(&container::CPU_LIMIT, cpus, &attrs);
    }
    let Some(stat) = read_parsed(dir, "cpu.stat", |t| {
        parse_keyed(t).map(|p| {
            let get = |k| keyed(&p, k);
            [
                get("nr_periods"),
                get("nr_throttled"),
                get("throttled_time"),
            ]
        })
    })?
    else {
        return Ok(());
    };
    let [periods, throttled, throttled_ns] = stat;
    if let Some(n) = periods {
        recorder.record(&container::CPU_PERIODS, n as f64, &attrs);
    }
    if let Some(n) = throttled {
        recorder.record(&container::CPU_THROTTLED_PERIODS, n as f64, &attrs);
    }
    if let Some(ns) = throttled_ns {
        let seconds = ns as f64 / 1e9;
        recorder.record(&container::CPU_THROTTLED_TIME, seconds, &attrs);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_memory_has_no_limit() {
        for (bytes, want) in [
            (536_870_912, Some(536_870_912)),
            (9_223_372_036_854_771_712, None),
            (1 << 62, None),
            ((1 << 62) - 4096, Some((1 << 62) - 4096)),
        ] {
            assert_eq!(memory_limit(bytes), want, "{bytes}");
        }
    }

    #[test]
    fn parses_quota() {
        let cases: &[(&str, Result<Option<u64>, ParseError>)] = &[
            ("-1\n", Ok(None)),
            ("150000\n", Ok(Some(150_000))),
            ("0\n", Ok(None)),
            (
                "lots\n",
                Err(ParseError::new(1, "quota: not a number: \"lots\"")),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&parse_quota(text), want, "{text:?}");
        }
    }
}
