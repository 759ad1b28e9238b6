//! Container, service and cgroup metrics, read from the cgroup file systems (v1 and v2) by the
//! agent's `host` integration for its own cgroup and for configured cgroups, systemd services and
//! containers.
//!
//! Names follow the OpenTelemetry Collector contrib `docker_stats` and `kubeletstats` receivers,
//! so that "at 95% of its memory limit" is
//! `container_memory_working_set_bytes / container_memory_usage_limit_bytes > 0.95` and "throttled
//! in 30% of periods" is
//! `rate(container_cpu_throttling_data_throttled_periods_total[5m]) / rate(container_cpu_throttling_data_periods_total[5m]) > 0.3`.

metrics! {
    section: "Containers, services and cgroups (`host` integration)",
    emitter: "host",
    metrics: {
        MEMORY_USAGE {
            name: "container.memory.usage.total",
            instrument: UpDownCounter,
            unit: "By",
            attributes: ["container.name", "cgroup.path"],
            source: "v2 memory.current; v1 memory.usage_in_bytes",
            description: "Memory charged to the cgroup, page cache included.",
        },
        MEMORY_WORKING_SET {
            name: "container.memory.working_set",
            instrument: UpDownCounter,
            unit: "By",
            attributes: ["container.name", "cgroup.path"],
            source: "usage minus inactive_file (v2 memory.stat inactive_file; v1 memory.stat total_inactive_file), as cAdvisor computes it",
            description: "Memory the cgroup cannot give back without swapping or being killed; what the OOM killer compares to the limit.",
        },
        MEMORY_LIMIT {
            name: "container.memory.usage.limit",
            instrument: UpDownCounter,
            unit: "By",
            attributes: ["container.name", "cgroup.path"],
            source: "v2 memory.max; v1 memory.limit_in_bytes; absent when unlimited",
            description: "Memory limit of the cgroup, only present when one is set.",
        },
        CPU_TIME {
            name: "container.cpu.time",
            instrument: Counter,
            unit: "s",
            attributes: ["container.name", "cgroup.path"],
            source: "v2 cpu.stat usage_usec; v1 cpuacct.usage (nanoseconds)",
            description: "CPU time consumed by the cgroup.",
        },
        CPU_LIMIT {
            name: "container.cpu.limit",
            instrument: Gauge,
            unit: "{cpu}",
            attributes: ["container.name", "cgroup.path"],
            source: "v2 cpu.max quota / period; v1 cpu.cfs_quota_us / cpu.cfs_period_us; absent when unlimited",
            description: "CPU quota of the cgroup in CPUs, only present when one is set.",
        },
        CPU_PERIODS {
            name: "container.cpu.throttling_data.periods",
            instrument: Counter,
            unit: "{period}",
            attributes: ["container.name", "cgroup.path"],
            source: "cpu.stat nr_periods",
            description: "Enforcement periods that elapsed while the cgroup had runnable tasks.",
        },
        CPU_THROTTLED_PERIODS {
            name: "container.cpu.throttling_data.throttled_periods",
            instrument: Counter,
            unit: "{period}",
            attributes: ["container.name", "cgroup.path"],
            source: "cpu.stat nr_throttled",
            description: "Enforcement periods in which the cgroup was throttled for using up its quota.",
        },
        CPU_THROTTLED_TIME {
            name: "container.cpu.throttling_data.throttled_time",
            instrument: Counter,
            unit: "s",
            attributes: ["container.name", "cgroup.path"],
            source: "v2 cpu.stat throttled_usec; v1 cpu.stat throttled_time (nanoseconds)",
            description: "Time the cgroup's tasks were throttled.",
        },
        PRESSURE_STALL {
            name: "dozor.container.pressure.stall",
            instrument: Counter,
            unit: "s",
            attributes: [
                "container.name",
                "cgroup.path",
                "pressure.resource",
                "pressure.scope"
            ],
            source: "v2 {cpu,memory,io}.pressure total= (microseconds); absent on v1",
            description: "Time some (or all) of the cgroup's runnable tasks were stalled waiting for a resource.",
        },
    }
}
