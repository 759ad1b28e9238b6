//! Process counts: processes created since boot and running or blocked right now, from the
//! `processes`, `procs_running` and `procs_blocked` lines of `/proc/stat`
//! (`system.processes.created`, `dozor.host.tasks`), and the processes on the host, from
//! the numeric directories of `/proc` (`dozor.host.processes`).

use super::{IntegrationError, ParseError, Paths, io_error, number};
use dozor_metrics::catalogue::host;
use dozor_metrics::sample::Recorder;

/// The process lines of `/proc/stat`; each is absent on kernels that lack it.
#[derive(Debug, Default, PartialEq)]
pub struct ProcStat {
    /// `processes`: forks since boot.
    pub created: Option<u64>,
    /// `procs_running`.
    pub running: Option<u64>,
    /// `procs_blocked`.
    pub blocked: Option<u64>,
}

/// Parses the process lines of `/proc/stat`; other lines are ignored.
pub fn parse_stat(text: &str) -> Result<ProcStat, ParseError> {
    let mut out = ProcStat::default();
    for (i, line) in text.lines().enumerate() {
        let mut fields = line.split_ascii_whitespace();
        let slot = match fields.next() {
            Some("processes") => &mut out.created,
            Some("procs_running") => &mut out.running,
            Some("procs_blocked") => &mut out.blocked,
            _ => continue,
        };
        *slot = Some(number(fields.next(), i + 1, "count")?);
    }
    Ok(out)
}

/// Records what the `/proc/stat` process lines hold.
pub fn record_stat(recorder: &mut Recorder, stat: &ProcStat) {
    if let Some(n) = stat.created {
        recorder.record(&host::PROCESSES_CREATED, n as f64, &[]);
    }
    for (status, n) in [("running", stat.running), ("blocked", stat.blocked)] {
        if let Some(n) = n {
            recorder.record(&host::TASKS, n as f64, &[status]);
        }
    }
}

/// True for the name of a process directory in `/proc`.
pub fn is_pid(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())
}

/// Counts the process directories of procfs.
pub fn collect(recorder: &mut Recorder, paths: &Paths) -> Result<(), IntegrationError> {
    let entries = match std::fs::read_dir(&paths.procfs) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error(&paths.procfs, &e)),
    };
    let mut count = 0u64;
    for entry in entries {
        // A process that exits while we list is simply not counted.
        let Ok(entry) = entry else { continue };
        if entry.file_name().to_str().is_some_and(is_pid) {
            count += 1;
        }
    }
    recorder.record(&host::PROCESSES, count as f64, &[]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat() {
        let cases: &[(&str, Result<ProcStat, ParseError>)] = &[
            (
                "cpu  1 2 3 4 5 6 7 8\nprocesses 9713\nprocs_running 3\nprocs_blocked 0\n",
                Ok(ProcStat {
                    created: Some(9713),
                    running: Some(3),
                    blocked: Some(0),
                }),
            ),
            ("cpu 1 2 3 4 5 6 7 8\n", Ok(ProcStat::default())),
            ("procs_running\n", Err(ParseError::new(1, "missing count"))),
            (
                "processes -1\n",
                Err(ParseError::new(1, "count: not a number: \"-1\"")),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&parse_stat(text), want, "{text:?}");
        }
    }

    #[test]
    fn recognises_pids() {
        for (name, want) in [
            ("1", true),
            ("4242", true),
            ("self", false),
            ("", false),
            ("1a", false),
        ] {
            assert_eq!(is_pid(name), want, "{name:?}");
        }
    }

    #[test]
    fn records_status() {
        let mut r = Recorder::new();
        record_stat(
            &mut r,
            &ProcStat {
                created: Some(5),
                running: Some(2),
                blocked: None,
            },
        );
        let got: Vec<_> = r
            .samples()
            .iter()
            .map(|s| (s.metric.name, s.value))
            .collect();
        assert_eq!(
            got,
            vec![("system.processes.created", 5.0), ("dozor.host.tasks", 2.0)]
        );
    }
}
