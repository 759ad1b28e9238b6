//! The section's validation: every problem at once, with its key.

use crate::integrations::http_capture::Config;
use crate::integrations::testing::load;

#[test]
fn a_good_section_loads_and_builds_its_filter() {
    let c: Config = load(
        "integrations:\n  http_capture:\n    enabled: true\n    interfaces: [lo]\n    ports: [8080, 9000]\n    bpf_filter: host 127.0.0.1\n    services: {8080: mes-api}\n    side: server\n",
    )
    .unwrap();
    assert_eq!(
        c.filter(),
        "(tcp port 8080 or tcp port 9000) and (host 127.0.0.1)"
    );
    assert_eq!(c.services[&8080], "mes-api");
}

#[test]
fn every_problem_is_reported_with_its_key() {
    let e = load::<Config>(
        "integrations:\n  http_capture:\n    enabled: true\n    ports: [0]\n    services: {8081: x}\n    snaplen: 10\n    limits: {max_connections: 0}\n    sides: server\n",
    )
    .unwrap_err();
    for needle in [
        "integrations.http_capture.interfaces",
        "integrations.http_capture.ports[0]",
        "integrations.http_capture.services.8081: port 8081 is not in ports",
        "integrations.http_capture.snaplen",
        "integrations.http_capture.limits.max_connections",
        "sides",
    ] {
        assert!(e.contains(needle), "{needle} not in:\n{e}");
    }
    let e = load::<Config>(
        "integrations:\n  http_capture:\n    enabled: true\n    interfaces: [lo]\n    pcap_file: /tmp/x.pcap\n    ports: [80]\n    side: sideways\n",
    )
    .unwrap_err();
    assert!(e.contains("side"), "{e}");
}
