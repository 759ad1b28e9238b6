//! Memory, CPU and throttling of cgroups: the agent's own (from `/proc/self/cgroup`), configured
//! systemd services (`system.slice/<unit>`) and configured containers (any cgroup path), from the
//! cgroup file systems under `<sysfs>/fs/cgroup` (`container.*`, see the container catalogue).
//!
//! The layout is cgroup v2 (unified) when `<sysfs>/fs/cgroup/cgroup.controllers` exists, and v1
//! (or hybrid) otherwise, with controllers mounted at `<sysfs>/fs/cgroup/<controller>` (`cpu`
//! and `cpuacct` either separate or combined as `cpu,cpuacct`). On v1 the agent's own memory and
//! CPU cgroups may differ; each metric carries the `cgroup.path` of the controller it came from,
//! and a controller whose path is the v1 root is skipped for the agent itself, because the root
//! is the whole host, not the agent. (On v2 the root is read: inside a container's cgroup
//! namespace it is the container.)
//!
//! A configured cgroup that does not exist is skipped and counted, not an error. Inside an
//! existing cgroup a missing file means the controller is not enabled there and its metrics are
//! left out; a file that exists but cannot be read or parsed is an error.

mod own;
mod v1;
mod v2;

use super::{
    CgroupsConfig, IntegrationError, OWN_CONTAINER_NAME, ParseError, Paths, Sources, number,
    parse_error, read_optional,
};
use dozor_metrics::sample::Recorder;
use own::{SelfCgroup, parse_self};
use std::path::{Path, PathBuf};

/// A cgroup to report: `container.name` and its path from the cgroup root (leading `/`).
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// `container.name`.
    pub name: String,
    /// `cgroup.path`.
    pub path: String,
}

/// `/docker/abc` for `docker/abc/`; `None` for paths that would leave the cgroup root.
pub fn normalize(path: &str) -> Option<String> {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return None;
    }
    Some(format!("/{}", parts.join("/")))
}

/// The configured services and containers, in configuration order.
pub fn configured_targets(config: &CgroupsConfig) -> Vec<Target> {
    let services = config
        .services
        .iter()
        .map(|unit| (unit.clone(), format!("system.slice/{unit}")));
    let containers = config
        .containers
        .iter()
        .map(|c| (c.name.clone(), c.path.clone()));
    let mut out = Vec::new();
    for (name, path) in services.chain(containers) {
        match normalize(&path) {
            Some(path) => out.push(Target { name, path }),
            None => {
                tracing::warn!(name = %name, path = %path, "Cgroup path leaves the cgroup root; ignored.")
            }
        }
    }
    out
}

/// Where the cgroup controllers are mounted.
#[derive(Debug, PartialEq)]
pub enum Layout {
    /// Unified hierarchy at this directory.
    V2(PathBuf),
    /// Per-controller hierarchies.
    V1(v1::Roots),
    /// No cgroup file system.
    None,
}

/// Finds the cgroup layout under `<sysfs>/fs/cgroup`.
pub fn detect(sysfs: &Path) -> Layout {
    let base = sysfs.join("fs/cgroup");
    if base.join("cgroup.controllers").is_file() {
        return Layout::V2(base);
    }
    let dir = |names: &[&str]| names.iter().map(|n| base.join(n)).find(|p| p.is_dir());
    let roots = v1::Roots {
        memory: dir(&["memory"]),
        cpu: dir(&["cpu", "cpu,cpuacct"]),
        cpuacct: dir(&["cpuacct", "cpu,cpuacct"]),
    };
    if roots == v1::Roots::default() {
        Layout::None
    } else {
        Layout::V1(roots)
    }
}

/// Parses a file holding one unsigned number (`memory.current`, `cpuacct.usage`).
pub fn parse_u64(text: &str) -> Result<u64, ParseError> {
    number(text.split_ascii_whitespace().next(), 1, "value")
}

/// The pairs of a flat keyed file, in file order.
pub type Keyed<'a> = Vec<(&'a str, u64)>;

/// Parses a flat keyed file (`cpu.stat`, `memory.stat`): `key value` per line.
pub fn parse_keyed(text: &str) -> Result<Keyed<'_>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut fields = line.split_ascii_whitespace();
        let Some(key) = fields.next() else { continue };
        out.push((key, number(fields.next(), i + 1, key)?));
    }
    Ok(out)
}

/// The value of `key` in a parsed keyed file.
pub fn keyed(pairs: &[(&str, u64)], key: &str) -> Option<u64> {
    pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// Working set as cAdvisor computes it: usage minus inactive file pages, never below zero.
pub fn working_set(usage: u64, inactive_file: u64) -> u64 {
    usage.saturating_sub(inactive_file)
}

/// Reads and parses one file of a cgroup directory; `None` when the file does not exist.
fn read_parsed<T>(
    dir: &Path,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, ParseError>,
) -> Result<Option<T>, IntegrationError> {
    let path = dir.join(name);
    match read_optional(&path)? {
        Some(text) => parse(&text).map(Some).map_err(|e| parse_error(&path, e)),
        None => Ok(None),
    }
}

/// Records every target, adding the names of those not found to `missing`; each target read
/// or failed is noted as the source `cgroup`.
pub fn collect(
    recorder: &mut Recorder,
    paths: &Paths,
    targets: &[Target],
    own: bool,
    missing: &mut Vec<String>,
    sources: &mut Sources,
) {
    let layout = detect(&paths.sysfs);
    let mut note = |result| sources.note("cgroup", result);
    if own {
        let path = paths.procfs.join("self/cgroup");
        match read_optional(&path) {
            Ok(Some(text)) => match parse_self(&text) {
                Ok(own) => match collect_own(recorder, &layout, &own) {
                    Ok(true) => note(Ok(())),
                    Ok(false) => missing.push(OWN_CONTAINER_NAME.to_string()),
                    Err(e) => note(Err(e)),
                },
                Err(e) => note(Err(parse_error(&path, e))),
            },
            Ok(None) => {}
            Err(e) => note(Err(e)),
        }
    }
    for t in targets {
        let found = match &layout {
            Layout::V2(root) => v2::collect(recorder, root, &t.name, &t.path),
            Layout::V1(roots) => {
                let p = Some(t.path.as_str());
                v1::collect(recorder, roots, &t.name, [p, p, p])
            }
            Layout::None => Ok(false),
        };
        match found {
            Ok(true) => note(Ok(())),
            Ok(false) => missing.push(t.name.clone()),
            Err(e) => note(Err(e)),
        }
    }
}

/// Records the agent's own cgroup; false when it was not found.
fn collect_own(
    recorder: &mut Recorder,
    layout: &Layout,
    own: &SelfCgroup,
) -> Result<bool, IntegrationError> {
    let name = OWN_CONTAINER_NAME;
    match layout {
        Layout::V2(root) => match own.unified.as_deref().and_then(normalize) {
            Some(path) => v2::collect(recorder, root, name, &path),
            None => Ok(false),
        },
        Layout::V1(roots) => {
            let path = |c| {
                own.v1_path(c)
                    .filter(|p| normalize(p).as_deref() != Some("/"))
            };
            let placed = [path("memory"), path("cpu"), path("cpuacct")];
            if placed.iter().all(Option::is_none) {
                return Ok(true); // only in root cgroups: nothing of the agent's own to report
            }
            v1::collect(recorder, roots, name, placed)
        }
        Layout::None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::host::CgroupTarget;

    #[test]
    fn normalizes_paths() {
        for (path, want) in [
            ("docker/abc123", Some("/docker/abc123")),
            ("/docker/abc123/", Some("/docker/abc123")),
            ("//a/./b", Some("/a/b")),
            ("/", Some("/")),
            ("", Some("/")),
            ("../etc", None),
            ("/a/../../b", None),
        ] {
            assert_eq!(normalize(path).as_deref(), want, "{path:?}");
        }
    }

    #[test]
    fn services_live_in_the_system_slice() {
        let config = CgroupsConfig {
            own: true,
            services: vec!["postgresql.service".into()],
            containers: vec![
                CgroupTarget {
                    name: "shop".into(),
                    path: "docker/abc123".into(),
                },
                CgroupTarget {
                    name: "evil".into(),
                    path: "../x".into(),
                },
            ],
        };
        let target = |name: &str, path: &str| Target {
            name: name.into(),
            path: path.into(),
        };
        assert_eq!(
            configured_targets(&config),
            vec![
                target("postgresql.service", "/system.slice/postgresql.service"),
                target("shop", "/docker/abc123"),
            ]
        );
    }

    #[test]
    fn parses_values() {
        assert_eq!(parse_u64("5107712\n"), Ok(5107712));
        assert_eq!(parse_u64(""), Err(ParseError::new(1, "missing value")));
        let cases: &[(&str, Result<Keyed, ParseError>)] = &[
            (
                "nr_periods 40\nnr_throttled 12\n\nthrottled_time 3500000000\n",
                Ok(vec![
                    ("nr_periods", 40),
                    ("nr_throttled", 12),
                    ("throttled_time", 3_500_000_000),
                ]),
            ),
            (
                "usage_usec\n",
                Err(ParseError::new(1, "missing usage_usec")),
            ),
            (
                "a 1\nb -2\n",
                Err(ParseError::new(2, "b: not a number: \"-2\"")),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&parse_keyed(text), want, "{text:?}");
        }
        assert_eq!(keyed(&[("a", 1), ("b", 2)], "b"), Some(2));
        assert_eq!(keyed(&[("a", 1)], "b"), None);
    }

    #[test]
    fn working_set_never_goes_negative() {
        assert_eq!(working_set(100, 30), 70);
        assert_eq!(working_set(30, 100), 0);
    }

    #[test]
    fn detects_combined_cpu_cpuacct() {
        let base = std::env::temp_dir().join(format!("dozor-cgroup-{}", std::process::id()));
        let cgroup = base.join("fs/cgroup");
        std::fs::create_dir_all(cgroup.join("cpu,cpuacct")).unwrap();
        std::fs::create_dir_all(cgroup.join("memory")).unwrap();
        let layout = detect(&base);
        std::fs::remove_dir_all(&base).unwrap();
        assert_eq!(
            layout,
            Layout::V1(v1::Roots {
                memory: Some(cgroup.join("memory")),
                cpu: Some(cgroup.join("cpu,cpuacct")),
                cpuacct: Some(cgroup.join("cpu,cpuacct")),
            })
        );
        assert_eq!(detect(Path::new("/nonexistent/dozor")), Layout::None);
    }
}
