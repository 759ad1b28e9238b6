//! The cgroup v2 fixture: a 4-CPU host with a throttled, memory-limited PostgreSQL service.

use super::*;

#[test]
fn v2_host() {
    let mut host = Host::new(
        &config(&["postgresql.service", "redis.service"], &[]),
        &fixture("host-v2"),
    );
    let s = run(&mut host);
    assert_eq!(
        host.missing_targets(),
        1,
        "redis.service is not on this host"
    );

    let pg = ["postgresql.service", "/system.slice/postgresql.service"];
    assert_eq!(
        value(&s, "container.memory.usage.total", &pg),
        Some(412090368.0)
    );
    assert_eq!(
        value(&s, "container.memory.working_set", &pg),
        Some(307232768.0)
    );
    assert_eq!(
        value(&s, "container.memory.usage.limit", &pg),
        Some(1073741824.0)
    );
    assert_eq!(value(&s, "container.cpu.time", &pg), Some(9876.54321));
    assert_eq!(value(&s, "container.cpu.limit", &pg), Some(0.5));
    assert_eq!(
        value(&s, "container.cpu.throttling_data.periods", &pg),
        Some(52000.0)
    );
    assert_eq!(
        value(&s, "container.cpu.throttling_data.throttled_periods", &pg),
        Some(7800.0)
    );
    assert_eq!(
        value(&s, "container.cpu.throttling_data.throttled_time", &pg),
        Some(654.321)
    );
    let pg_cpu_full = [pg[0], pg[1], "cpu", "full"];
    assert_eq!(
        value(&s, "dozor.container.pressure.stall", &pg_cpu_full),
        Some(321.098765)
    );

    let own = ["dozor-agent", "/system.slice/dozor-agent.service"];
    assert_eq!(
        value(&s, "container.memory.usage.total", &own),
        Some(25165824.0)
    );
    assert_eq!(
        value(&s, "container.memory.usage.limit", &own),
        None,
        "memory.max is max"
    );
    assert_eq!(
        value(&s, "container.cpu.limit", &own),
        None,
        "cpu.max is max"
    );
    assert_eq!(value(&s, "container.cpu.time", &own), Some(12.345678));

    assert_eq!(value(&s, "dozor.host.tasks", &["blocked"]), Some(1.0));
    assert_eq!(value(&s, "dozor.host.processes", &[]), Some(4.0));
    assert_eq!(
        value(&s, "system.paging.usage", &["used"]),
        Some(1048572.0 * 1024.0)
    );
    assert_eq!(
        value(&s, "system.memory.usage", &["cached"]),
        Some((7654321.0 + 456789.0) * 1024.0)
    );
    assert_eq!(
        value(&s, "dozor.host.pressure.stall", &["cpu", "some"]),
        Some(7654.321098)
    );
    assert_eq!(
        value(&s, "dozor.host.pressure.stall", &["cpu", "full"]),
        None,
        "no full line"
    );
    assert_eq!(labels(&s, "system.disk.io", 0), ["nvme0n1", "sda", "dm-0"]);
    assert_eq!(
        value(&s, "system.network.io", &["enp3s0", "receive"]),
        Some(123456789012.0)
    );
    assert_eq!(
        labels(&s, "system.filesystem.limit", 1),
        ["/run", "/", "/boot/efi", "/mnt/backup disk"]
    );
    let tcp = |state| value(&s, "system.network.connections", &["tcp", state]);
    let counts: Vec<_> = [
        "established",
        "listen",
        "time_wait",
        "close_wait",
        "syn_sent",
        "closed",
    ]
    .into_iter()
    .map(tcp)
    .collect();
    assert_eq!(counts, [4.0, 3.0, 1.0, 1.0, 1.0, 0.0].map(Some));

    // A later reading with more ticks gives utilization for every mode, summing to 1.
    host.previous_cpu = host.previous_cpu.map(|t| t.map(|v| v.saturating_sub(10)));
    let s = run(&mut host);
    let total: f64 = cpu::MODES
        .iter()
        .map(|m| value(&s, "system.cpu.utilization", &[m]).unwrap())
        .sum();
    assert!((total - 1.0).abs() < 1e-9);
}
