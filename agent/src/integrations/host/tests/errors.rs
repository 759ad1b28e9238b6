//! Missing sources, broken files and unreadable cgroup files.

use super::*;

#[test]
fn missing_sources_are_not_errors() {
    let tree = Tree::new("empty", &[("proc/uptime", "5.00 9.00\n")]);
    let mut host = Host::new(
        &config(&["postgresql.service"], &[("shop", "/x")]),
        &tree.paths(),
    );
    let s = run(&mut host);
    let names: Vec<_> = s.iter().map(|s| s.metric.name).collect();
    assert_eq!(names, ["dozor.host.processes", "system.uptime"]);
    assert_eq!(host.missing_targets(), 2);
}

#[test]
fn a_broken_source_is_named_and_the_others_are_still_recorded() {
    let tree = Tree::new(
        "broken",
        &[
            ("proc/loadavg", "garbage\n"),
            ("proc/uptime", "5.00 9.00\n"),
            ("proc/pressure/io", "some total=x\n"),
        ],
    );
    let mut host = Host::new(&Config::default(), &tree.paths());
    let mut r = Recorder::new();
    let e = host.collect(&mut r).unwrap_err();
    assert_eq!(e.kind, "parse");
    assert!(e.message.contains("proc/loadavg: line 1"), "{}", e.message);
    assert_eq!(value(r.samples(), "system.uptime", &[]), Some(5.0));
}

/// Each source is reported on its own: the broken one 0, the missing and the healthy ones 1,
/// so `dozor_agent_scrape_source_success == 0` names what failed.
#[test]
fn each_source_reports_its_success() {
    let tree = Tree::new(
        "sources",
        &[
            ("proc/loadavg", "garbage\n"),
            ("proc/uptime", "5.00 9.00\n"),
        ],
    );
    let mut host = Host::new(&Config::default(), &tree.paths());
    let mut r = Recorder::new();
    assert!(host.collect(&mut r).is_err());
    let success = |source: &str| {
        value(
            r.samples(),
            "dozor.agent.scrape.source.success",
            &["host", source],
        )
    };
    assert_eq!(success("load"), Some(0.0));
    for source in [
        "cpu",
        "memory",
        "uptime",
        "pressure",
        "filesystem",
        "disk",
        "network",
    ] {
        assert_eq!(success(source), Some(1.0), "{source}");
    }
}

#[test]
fn an_unreadable_cgroup_file_is_an_io_error() {
    let tree = Tree::new(
        "unreadable",
        &[
            ("sys/fs/cgroup/cgroup.controllers", "cpu memory\n"),
            ("sys/fs/cgroup/shop/memory.current/x", ""), // a directory: reading it fails
            ("sys/fs/cgroup/shop/cpu.max", "20000 100000\n"),
        ],
    );
    let mut host = Host::new(&config(&[], &[("shop", "shop")]), &tree.paths());
    let mut r = Recorder::new();
    let e = host.collect(&mut r).unwrap_err();
    assert_eq!(e.kind, "io");
    assert!(e.message.contains("memory.current"), "{}", e.message);
}
