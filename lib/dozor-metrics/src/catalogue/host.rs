//! Host metrics, read from procfs and sysfs by the agent's `host` integration.
//!
//! Names and attributes follow the OpenTelemetry system semantic conventions, and where those
//! are silent, the OpenTelemetry Collector contrib `hostmetrics` receiver. Exception: names
//! ending in `.count` (`system.process.count`, `system.cpu.logical.count`) become Prometheus
//! names ending in `_count`, which Prometheus reserves for histograms and summaries (`promtool
//! check metrics` rejects them), so process counts are `dozor.host.processes` and
//! `dozor.host.tasks`, and the CPU count is left to `count(system_cpu_time_seconds_total{cpu_mode="idle"})`.

use crate::metric;

metric!(
    CPU_TIME {
        name: "system.cpu.time",
        instrument: Counter,
        unit: "s",
        attributes: ["cpu.logical_number", "cpu.mode"],
        source: "/proc/stat cpuN lines, USER_HZ ticks converted to seconds",
        description: "Seconds each logical CPU spent in each mode.",
    },
    "host"
);

metric!(
    CPU_UTILIZATION {
        name: "system.cpu.utilization",
        instrument: Gauge,
        unit: "1",
        attributes: ["cpu.mode"],
        source: "/proc/stat cpu line, difference between two readings",
        description: "Fraction of all CPU time spent in each mode since the previous collection.",
    },
    "host"
);

metric!(
    LOAD_1M {
        name: "system.cpu.load_average.1m",
        instrument: Gauge,
        unit: "{thread}",
        attributes: [],
        source: "/proc/loadavg field 1",
        description: "Load average over the last minute.",
    },
    "host"
);

metric!(
    LOAD_5M {
        name: "system.cpu.load_average.5m",
        instrument: Gauge,
        unit: "{thread}",
        attributes: [],
        source: "/proc/loadavg field 2",
        description: "Load average over the last five minutes.",
    },
    "host"
);

metric!(
    LOAD_15M {
        name: "system.cpu.load_average.15m",
        instrument: Gauge,
        unit: "{thread}",
        attributes: [],
        source: "/proc/loadavg field 3",
        description: "Load average over the last fifteen minutes.",
    },
    "host"
);

metric!(
    MEMORY_USAGE {
        name: "system.memory.usage",
        instrument: UpDownCounter,
        unit: "By",
        attributes: ["system.memory.state"],
        source: "/proc/meminfo: used = MemTotal - MemFree - Buffers - Cached - SReclaimable; free = MemFree; buffers = Buffers; cached = Cached + SReclaimable",
        description: "Memory in use, free, and held by buffers and the page cache.",
    },
    "host"
);

metric!(
    MEMORY_LIMIT {
        name: "system.memory.limit",
        instrument: UpDownCounter,
        unit: "By",
        attributes: [],
        source: "/proc/meminfo MemTotal",
        description: "Total usable memory.",
    },
    "host"
);

metric!(
    MEMORY_AVAILABLE {
        name: "system.linux.memory.available",
        instrument: UpDownCounter,
        unit: "By",
        attributes: [],
        source: "/proc/meminfo MemAvailable",
        description: "Memory the kernel estimates is available for new work without swapping.",
    },
    "host"
);

metric!(
    MEMORY_UTILIZATION {
        name: "system.memory.utilization",
        instrument: Gauge,
        unit: "1",
        attributes: ["system.memory.state"],
        source: "/proc/meminfo, each state divided by MemTotal",
        description: "Fraction of total memory in each state.",
    },
    "host"
);

metric!(
    PAGING_USAGE {
        name: "system.paging.usage",
        instrument: UpDownCounter,
        unit: "By",
        attributes: ["system.paging.state"],
        source: "/proc/meminfo: used = SwapTotal - SwapFree; free = SwapFree",
        description: "Swap space in use and free.",
    },
    "host"
);

metric!(
    FILESYSTEM_USAGE {
        name: "system.filesystem.usage",
        instrument: UpDownCounter,
        unit: "By",
        attributes: [
            "system.device",
            "system.filesystem.mountpoint",
            "system.filesystem.type",
            "system.filesystem.state"
        ],
        source: "statvfs(2) on each mount in /proc/self/mounts: used = (f_blocks - f_bfree) * f_frsize; free = f_bavail * f_frsize; reserved = (f_bfree - f_bavail) * f_frsize",
        description: "File system space used, free to unprivileged users, and reserved for root.",
    },
    "host"
);

metric!(
    FILESYSTEM_LIMIT {
        name: "system.filesystem.limit",
        instrument: UpDownCounter,
        unit: "By",
        attributes: [
            "system.device",
            "system.filesystem.mountpoint",
            "system.filesystem.type"
        ],
        source: "statvfs(2) f_blocks * f_frsize",
        description: "File system size.",
    },
    "host"
);

metric!(
    FILESYSTEM_UTILIZATION {
        name: "system.filesystem.utilization",
        instrument: Gauge,
        unit: "1",
        attributes: [
            "system.device",
            "system.filesystem.mountpoint",
            "system.filesystem.type"
        ],
        source: "statvfs(2): used / (used + free), as df(1) computes Use%",
        description: "Fraction of the file system space available to users that is used.",
    },
    "host"
);

metric!(
    FILESYSTEM_INODES_USAGE {
        name: "system.filesystem.inodes.usage",
        instrument: UpDownCounter,
        unit: "{inode}",
        attributes: [
            "system.device",
            "system.filesystem.mountpoint",
            "system.filesystem.type",
            "system.filesystem.state"
        ],
        source: "statvfs(2): used = f_files - f_ffree; free = f_ffree",
        description: "File system inodes used and free.",
    },
    "host"
);

metric!(
    DISK_IO {
        name: "system.disk.io",
        instrument: Counter,
        unit: "By",
        attributes: ["system.device", "disk.io.direction"],
        source: "/proc/diskstats sectors read and written, times 512",
        description: "Bytes read from and written to each disk.",
    },
    "host"
);

metric!(
    DISK_OPERATIONS {
        name: "system.disk.operations",
        instrument: Counter,
        unit: "{operation}",
        attributes: ["system.device", "disk.io.direction"],
        source: "/proc/diskstats reads and writes completed",
        description: "Read and write operations completed on each disk.",
    },
    "host"
);

metric!(
    DISK_OPERATION_TIME {
        name: "system.disk.operation_time",
        instrument: Counter,
        unit: "s",
        attributes: ["system.device", "disk.io.direction"],
        source: "/proc/diskstats milliseconds spent reading and writing",
        description: "Time spent in read and write operations on each disk, summed over operations.",
    },
    "host"
);

metric!(
    DISK_IO_TIME {
        name: "system.disk.io_time",
        instrument: Counter,
        unit: "s",
        attributes: ["system.device"],
        source: "/proc/diskstats milliseconds spent doing I/O",
        description: "Time each disk had at least one operation in progress.",
    },
    "host"
);

metric!(
    NETWORK_IO {
        name: "system.network.io",
        instrument: Counter,
        unit: "By",
        attributes: ["network.interface.name", "network.io.direction"],
        source: "/proc/net/dev bytes",
        description: "Bytes received and transmitted on each network interface.",
    },
    "host"
);

metric!(
    NETWORK_PACKETS {
        name: "system.network.packets",
        instrument: Counter,
        unit: "{packet}",
        attributes: ["network.interface.name", "network.io.direction"],
        source: "/proc/net/dev packets",
        description: "Packets received and transmitted on each network interface.",
    },
    "host"
);

metric!(
    NETWORK_ERRORS {
        name: "system.network.errors",
        instrument: Counter,
        unit: "{error}",
        attributes: ["network.interface.name", "network.io.direction"],
        source: "/proc/net/dev errs",
        description: "Receive and transmit errors on each network interface.",
    },
    "host"
);

metric!(
    NETWORK_DROPPED {
        name: "system.network.dropped",
        instrument: Counter,
        unit: "{packet}",
        attributes: ["network.interface.name", "network.io.direction"],
        source: "/proc/net/dev drop",
        description: "Packets dropped on receive and transmit on each network interface.",
    },
    "host"
);

metric!(
    NETWORK_CONNECTIONS {
        name: "system.network.connections",
        instrument: UpDownCounter,
        unit: "{connection}",
        attributes: ["network.transport", "network.connection.state"],
        source: "/proc/net/tcp and /proc/net/tcp6 st column",
        description: "TCP connections in each state.",
    },
    "host"
);

metric!(
    PROCESSES {
        name: "dozor.host.processes",
        instrument: UpDownCounter,
        unit: "{process}",
        attributes: [],
        source: "numeric directories in /proc",
        description: "Processes on the host.",
    },
    "host"
);

metric!(
    TASKS {
        name: "dozor.host.tasks",
        instrument: UpDownCounter,
        unit: "{task}",
        attributes: ["state"],
        source: "/proc/stat procs_running (state=running) and procs_blocked (state=blocked)",
        description: "Tasks (threads) runnable or blocked on I/O right now.",
    },
    "host"
);

metric!(
    PROCESSES_CREATED {
        name: "system.processes.created",
        instrument: Counter,
        unit: "{process}",
        attributes: [],
        source: "/proc/stat processes",
        description: "Processes and threads created since boot.",
    },
    "host"
);

metric!(
    UPTIME {
        name: "system.uptime",
        instrument: Gauge,
        unit: "s",
        attributes: [],
        source: "/proc/uptime field 1",
        description: "Seconds since the host booted.",
    },
    "host"
);

metric!(
    PRESSURE_STALL {
        name: "dozor.host.pressure.stall",
        instrument: Counter,
        unit: "s",
        attributes: ["pressure.resource", "pressure.scope"],
        source: "/proc/pressure/{cpu,memory,io} total= (microseconds), when the kernel has PSI",
        description: "Time some (or all) runnable tasks were stalled waiting for a resource.",
    },
    "host"
);

/// Every host metric, in documentation order.
pub static ALL: &[&crate::MetricDef] = &[
    &CPU_TIME,
    &CPU_UTILIZATION,
    &LOAD_1M,
    &LOAD_5M,
    &LOAD_15M,
    &MEMORY_USAGE,
    &MEMORY_LIMIT,
    &MEMORY_AVAILABLE,
    &MEMORY_UTILIZATION,
    &PAGING_USAGE,
    &FILESYSTEM_USAGE,
    &FILESYSTEM_LIMIT,
    &FILESYSTEM_UTILIZATION,
    &FILESYSTEM_INODES_USAGE,
    &DISK_IO,
    &DISK_OPERATIONS,
    &DISK_OPERATION_TIME,
    &DISK_IO_TIME,
    &NETWORK_IO,
    &NETWORK_PACKETS,
    &NETWORK_ERRORS,
    &NETWORK_DROPPED,
    &NETWORK_CONNECTIONS,
    &PROCESSES,
    &TASKS,
    &PROCESSES_CREATED,
    &UPTIME,
    &PRESSURE_STALL,
];
