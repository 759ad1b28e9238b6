//! The `redis` integration's metrics: lengths of configured lists and streams, consumer-group
//! pending, lag and per-consumer idle time of streams, and memory and clients from `INFO` (one
//! connection per instance, see `agent/src/integrations/redis`).
//!
//! Names follow the OpenTelemetry Collector contrib `redisreceiver` where it has the same
//! measurement (`redis.memory.used`, `redis.maxmemory`, `redis.clients.*`), otherwise
//! `dozor.redis.*`. Every series carries `redis.instance`, the instance's name in the agent's
//! configuration. Keys beyond the instance's `max_series` budget are folded into
//! `redis.key="_other"` (their sum) and counted in `dozor.redis.overflow.entities`.
//! The stream lag stays true after `XDEL`: where Redis 7's `XINFO GROUPS` reports a null lag, the
//! agent counts the entries after the group's last-delivered id itself.

metrics! {
    section: "Redis lists and streams (`redis` integration)",
    emitter: "redis",
    metrics: {
        UP {
            name: "dozor.redis.up",
            instrument: Gauge,
            unit: "{status}",
            attributes: ["redis.instance"],
            source: "1 when the last collection connected, authenticated and read INFO, 0 otherwise",
            description: "Whether the agent could connect to the instance and query it (1) or not (0).",
        },
        MEMORY_USED {
            name: "redis.memory.used",
            instrument: Gauge,
            unit: "By",
            attributes: ["redis.instance"],
            source: "INFO memory used_memory",
            description: "Bytes allocated by Redis with its allocator.",
        },
        MAXMEMORY {
            name: "redis.maxmemory",
            instrument: Gauge,
            unit: "By",
            attributes: ["redis.instance"],
            source: "INFO memory maxmemory (0: no limit)",
            description: "The maxmemory limit; 0 when none is set.",
        },
        CLIENTS_CONNECTED {
            name: "redis.clients.connected",
            instrument: UpDownCounter,
            unit: "{client}",
            attributes: ["redis.instance"],
            source: "INFO clients connected_clients",
            description: "Client connections, replicas excluded.",
        },
        CLIENTS_BLOCKED {
            name: "redis.clients.blocked",
            instrument: UpDownCounter,
            unit: "{client}",
            attributes: ["redis.instance"],
            source: "INFO clients blocked_clients",
            description: "Clients waiting in a blocking call (BLPOP, XREAD BLOCK, ...).",
        },
        LIST_LENGTH {
            name: "dozor.redis.list.length",
            instrument: Gauge,
            unit: "{message}",
            attributes: ["redis.instance", "redis.key"],
            source: "LLEN of each configured list key and of the lists matching the configured patterns (SCAN MATCH, bounded); a missing key is 0",
            description: "Entries in a list used as a queue.",
        },
        STREAM_LENGTH {
            name: "dozor.redis.stream.length",
            instrument: Gauge,
            unit: "{message}",
            attributes: ["redis.instance", "redis.key"],
            source: "XLEN of each configured stream key and of the streams matching the configured patterns",
            description: "Entries in a stream.",
        },
        STREAM_GROUP_PENDING {
            name: "dozor.redis.stream.group.pending",
            instrument: Gauge,
            unit: "{message}",
            attributes: ["redis.instance", "redis.key", "redis.group"],
            source: "XINFO GROUPS pending: entries delivered to the group's consumers and not acknowledged",
            description: "Entries delivered to a consumer group and not yet acknowledged (XACK).",
        },
        STREAM_GROUP_LAG {
            name: "dozor.redis.stream.group.lag",
            instrument: Gauge,
            unit: "{message}",
            attributes: ["redis.instance", "redis.key", "redis.group"],
            source: "XINFO GROUPS lag; when Redis reports it null (an entry after the group's position was deleted, or the group never read) or is older than 7.0, counted with XRANGE: the entries after last-delivered-id, or XLEN minus those up to it, whichever side is smaller (bounded by lag_count_limit)",
            description: "Entries in the stream not yet delivered to the consumer group.",
        },
        STREAM_GROUP_LAG_AGE {
            name: "dozor.redis.stream.group.lag.age",
            instrument: Gauge,
            unit: "s",
            attributes: ["redis.instance", "redis.key", "redis.group"],
            source: "now minus the time in the id of the group's oldest undelivered entry (XRANGE key (last-delivered-id + COUNT 1); 0 when every entry was delivered. Exact for ids Redis generated (XADD *), which carry the server's clock in milliseconds",
            description: "Age of the oldest entry not yet delivered to the consumer group.",
        },
        STREAM_GROUP_LAG_COUNTED {
            name: "dozor.redis.stream.group.lag.counted",
            instrument: Gauge,
            unit: "{status}",
            attributes: ["redis.instance", "redis.key", "redis.group"],
            source: "1 when the lag was counted by the agent (Redis gave none), 0 when Redis reported it",
            description: "Whether the group's lag was counted by the agent with XRANGE (1) or reported by Redis (0).",
        },
        STREAM_CONSUMER_PENDING {
            name: "dozor.redis.stream.consumer.pending",
            instrument: Gauge,
            unit: "{message}",
            attributes: ["redis.instance", "redis.key", "redis.group", "redis.consumer"],
            source: "XINFO CONSUMERS pending",
            description: "Entries delivered to one consumer of a group and not yet acknowledged.",
        },
        STREAM_CONSUMER_IDLE {
            name: "dozor.redis.stream.consumer.idle",
            instrument: Gauge,
            unit: "s",
            attributes: ["redis.instance", "redis.key", "redis.group", "redis.consumer"],
            source: "XINFO CONSUMERS idle (milliseconds since the consumer's last attempted interaction), in seconds",
            description: "Time since a consumer last read from the group or claimed an entry.",
        },
        OVERFLOW_ENTITIES {
            name: "dozor.redis.overflow.entities",
            instrument: Gauge,
            unit: "{entity}",
            attributes: ["redis.instance", "kind"],
            source: "keys (kind=key) and consumers (kind=consumer) beyond max_series, folded into the `_other` series",
            description: "Entities folded into the `_other` series because the series budget was reached.",
        },
    }
}
