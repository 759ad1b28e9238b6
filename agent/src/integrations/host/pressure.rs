//! Pressure stall information: time some (or all) runnable tasks waited for CPU, memory or I/O,
//! from the `total=` microseconds of `/proc/pressure/{cpu,memory,io}`
//! (`dozor.host.pressure.stall`). The same parser reads cgroup v2 `*.pressure` files.
//!
//! Kernels without PSI have no `/proc/pressure` (or fail reads with EOPNOTSUPP when booted with
//! `psi=0`): nothing is recorded, which is not an error. Older kernels have no `full` line in the
//! cpu file; the lines the file has are recorded.

use super::{IntegrationError, ParseError, Paths, number, parse_error, read_optional};
use dozor_metrics::catalogue::host;
use dozor_metrics::sample::Recorder;

/// The `pressure.resource` values, which are also the file names.
pub const RESOURCES: [&str; 3] = ["cpu", "memory", "io"];

/// (`pressure.scope`, total stall seconds) per line of a PSI file.
pub type Stalls = Vec<(&'static str, f64)>;

/// Parses a PSI file.
pub fn parse(text: &str) -> Result<Stalls, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut fields = line.split_ascii_whitespace();
        let scope = match fields.next() {
            Some("some") => "some",
            Some("full") => "full",
            Some(other) => return Err(ParseError::new(i + 1, format!("unknown scope {other:?}"))),
            None => continue,
        };
        let total = fields.find_map(|f| f.strip_prefix("total="));
        let micros = number(total, i + 1, "total=")?;
        out.push((scope, micros as f64 / 1e6));
    }
    Ok(out)
}

/// Reads `/proc/pressure/*`.
pub fn collect(recorder: &mut Recorder, paths: &Paths) -> Result<(), IntegrationError> {
    let dir = paths.procfs.join("pressure");
    for resource in RESOURCES {
        let path = dir.join(resource);
        let Some(text) = read_optional(&path)? else {
            continue;
        };
        for (scope, seconds) in parse(&text).map_err(|e| parse_error(&path, e))? {
            recorder.record(&host::PRESSURE_STALL, seconds, &[resource, scope]);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let cases: &[(&str, Result<Stalls, ParseError>)] = &[
            (
                "some avg10=0.76 avg60=1.18 avg300=1.23 total=10337727\n\
                 full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
                Ok(vec![("some", 10.337727), ("full", 0.0)]),
            ),
            (
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=2500000\n",
                Ok(vec![("some", 2.5)]),
            ),
            ("", Ok(vec![])),
            (
                "some avg10=0.00\n",
                Err(ParseError::new(1, "missing total=")),
            ),
            (
                "most avg10=0.00 total=1\n",
                Err(ParseError::new(1, "unknown scope \"most\"")),
            ),
            (
                "some total=1.5\n",
                Err(ParseError::new(1, "total=: not a number: \"1.5\"")),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&parse(text), want, "{text:?}");
        }
    }
}
