//! The cgroup v1 hybrid fixture, taken from this machine: separate cpu and cpuacct hierarchies,
//! the agent's memory cgroup apart from its (root) cpu cgroups, and a throttled container.

use super::*;

#[test]
fn v1_hybrid_host() {
    let mut host = Host::new(
        &config(&["postgresql.service"], &[("shop", "/docker/abc123")]),
        &fixture("host-v1"),
    );
    let s = run(&mut host);
    assert_eq!(
        host.missing_targets(),
        1,
        "postgresql.service is not on this host"
    );

    let shop = ["shop", "/docker/abc123"];
    assert_eq!(
        value(&s, "container.memory.usage.total", &shop),
        Some(268435456.0)
    );
    assert_eq!(
        value(&s, "container.memory.working_set", &shop),
        Some(201326592.0)
    );
    assert_eq!(
        value(&s, "container.memory.usage.limit", &shop),
        Some(536870912.0)
    );
    assert_eq!(value(&s, "container.cpu.time", &shop), Some(734.512345678));
    assert_eq!(value(&s, "container.cpu.limit", &shop), Some(1.5));
    assert_eq!(
        value(&s, "container.cpu.throttling_data.periods", &shop),
        Some(48000.0)
    );
    assert_eq!(
        value(&s, "container.cpu.throttling_data.throttled_periods", &shop),
        Some(1200.0)
    );
    assert_eq!(
        value(&s, "container.cpu.throttling_data.throttled_time", &shop),
        Some(95.0)
    );
    assert!(
        labels(&s, "dozor.container.pressure.stall", 0).is_empty(),
        "no PSI on v1"
    );

    // The agent: memory from its memory cgroup, unlimited; its cpu cgroups are the host root.
    let own = [
        "dozor-agent",
        "/process_api/f3e603734f0fc3a0e3393943042eb136",
    ];
    assert_eq!(
        value(&s, "container.memory.usage.total", &own),
        Some(5107712.0)
    );
    assert_eq!(
        value(&s, "container.memory.working_set", &own),
        Some(5042176.0)
    );
    assert_eq!(value(&s, "container.memory.usage.limit", &own), None);
    assert_eq!(value(&s, "container.cpu.time", &["dozor-agent"]), None);
    assert_eq!(
        labels(&s, "container.memory.usage.total", 0),
        ["dozor-agent", "shop"]
    );

    assert_eq!(value(&s, "system.cpu.time", &["0", "user"]), Some(48.15));
    assert_eq!(value(&s, "system.cpu.time", &["1", "steal"]), Some(0.09));
    assert_eq!(
        value(&s, "system.cpu.utilization", &["idle"]),
        None,
        "first reading"
    );
    assert_eq!(value(&s, "system.cpu.load_average.15m", &[]), Some(0.14));
    assert_eq!(value(&s, "system.uptime", &[]), Some(512.45));
    assert_eq!(value(&s, "dozor.host.processes", &[]), Some(3.0));
    assert_eq!(value(&s, "system.processes.created", &[]), Some(9713.0));
    assert_eq!(value(&s, "dozor.host.tasks", &["running"]), Some(3.0));
    assert_eq!(
        value(&s, "system.memory.limit", &[]),
        Some(24684084.0 * 1024.0)
    );
    assert_eq!(value(&s, "system.paging.usage", &["used"]), Some(0.0));
    assert_eq!(
        value(&s, "dozor.host.pressure.stall", &["cpu", "some"]),
        Some(10.337727)
    );
    assert_eq!(
        value(&s, "dozor.host.pressure.stall", &["memory", "full"]),
        Some(3.800128)
    );
    assert_eq!(labels(&s, "system.disk.io", 0), ["vda"]);
    assert_eq!(
        value(&s, "system.disk.io", &["vda", "read"]),
        Some(7275562.0 * 512.0)
    );
    assert_eq!(
        labels(&s, "system.network.io", 0),
        ["lo", "ifb0", "ifb1", "eth0"]
    );
    assert_eq!(
        value(&s, "system.network.io", &["eth0", "receive"]),
        Some(221012614.0)
    );
    assert_eq!(labels(&s, "system.filesystem.limit", 1), ["/"]);
    assert_eq!(labels(&s, "system.network.connections", 1).len(), 11);
    assert_eq!(
        value(&s, "system.network.connections", &["tcp", "listen"]),
        Some(11.0)
    );
    assert_eq!(
        value(&s, "system.network.connections", &["tcp", "established"]),
        Some(2.0)
    );
    assert_eq!(
        value(&s, "system.network.connections", &["tcp", "time_wait"]),
        Some(2.0)
    );
    assert_eq!(
        value(&s, "system.network.connections", &["tcp", "closing"]),
        Some(0.0)
    );

    // Same file again: no time passed, so still no utilization.
    assert_eq!(
        value(&run(&mut host), "system.cpu.utilization", &["idle"]),
        None
    );
}
