//! The `kafka` integration's metrics, read over the Kafka protocol from each configured cluster
//! (one client per instance, see `agent/src/integrations/kafka`).
//!
//! Names follow the OpenTelemetry Collector contrib `kafkametricsreceiver` where it has the same
//! measurement (`kafka.brokers`, `kafka.topic.partitions`, `kafka.partition.*`,
//! `kafka.consumer_group.*`, with its attributes `topic`, `partition` and `group`), otherwise
//! `dozor.kafka.*`. Every series carries `kafka.instance`, the name the cluster has in the
//! agent's configuration. Entities past the `max_series` budget are summed into `topic="_other"`,
//! `partition="_other"` (and `group="_other"` for group series).
//!
//! Lag semantics (see docs/queues-kafka.md): committed offsets are read before the log-end
//! offsets, so `kafka.consumer_group.lag` is never negative; a partition without a committed
//! offset has no lag series and `dozor.kafka.consumer_group.offset.missing` 1; lag stays while the
//! group has no members; a group that left a topic has `dozor.kafka.consumer_group.topic.assigned` 0.

metrics! {
    section: "Kafka (`kafka` integration)",
    emitter: "kafka",
    metrics: {
        UP {
            name: "dozor.kafka.up",
            instrument: Gauge,
            unit: "{status}",
            attributes: ["kafka.instance"],
            source: "1 when the last collection read the cluster's metadata, 0 when no bootstrap server answered",
            description: "Whether the agent could reach the cluster and read its metadata (1) or not (0).",
        },
        BROKERS {
            name: "kafka.brokers",
            instrument: Gauge,
            unit: "{broker}",
            attributes: ["kafka.instance"],
            source: "Metadata response: brokers",
            description: "Brokers in the cluster.",
        },
        TOPIC_PARTITIONS {
            name: "kafka.topic.partitions",
            instrument: Gauge,
            unit: "{partition}",
            attributes: ["kafka.instance", "topic"],
            source: "Metadata response: partitions of each topic",
            description: "Partitions of each topic.",
        },
        UNDER_REPLICATED {
            name: "dozor.kafka.topic.under_replicated_partitions",
            instrument: Gauge,
            unit: "{partition}",
            attributes: ["kafka.instance", "topic"],
            source: "Metadata response: partitions whose in-sync replicas are fewer than their replicas",
            description: "Partitions of each topic with fewer in-sync replicas than replicas.",
        },
        CURRENT_OFFSET {
            name: "kafka.partition.current_offset",
            instrument: Gauge,
            unit: "{message}",
            attributes: ["kafka.instance", "topic", "partition"],
            source: "ListOffsets (timestamp -1, latest) on the partition's leader",
            description: "Log-end offset of each partition: the offset the next record will get. It only grows (until the topic is recreated), so rate() over it is the produce rate.",
        },
        OLDEST_OFFSET {
            name: "kafka.partition.oldest_offset",
            instrument: Gauge,
            unit: "{message}",
            attributes: ["kafka.instance", "topic", "partition"],
            source: "ListOffsets (timestamp -2, earliest) on the partition's leader",
            description: "Oldest offset still in each partition's log.",
        },
        REPLICAS {
            name: "kafka.partition.replicas",
            instrument: Gauge,
            unit: "{replica}",
            attributes: ["kafka.instance", "topic", "partition"],
            source: "Metadata response: replica_nodes",
            description: "Replicas of each partition.",
        },
        REPLICAS_IN_SYNC {
            name: "kafka.partition.replicas_in_sync",
            instrument: Gauge,
            unit: "{replica}",
            attributes: ["kafka.instance", "topic", "partition"],
            source: "Metadata response: isr_nodes",
            description: "In-sync replicas of each partition.",
        },
        GROUP_MEMBERS {
            name: "kafka.consumer_group.members",
            instrument: Gauge,
            unit: "{member}",
            attributes: ["kafka.instance", "group"],
            source: "DescribeGroups on the group's coordinator: members",
            description: "Members of each consumer group (0 when the group is Empty).",
        },
        GROUP_STATE {
            name: "dozor.kafka.consumer_group.state",
            instrument: Gauge,
            unit: "{state}",
            attributes: ["kafka.instance", "group", "state"],
            source: "DescribeGroups on the group's coordinator: group_state (Stable, Empty, PreparingRebalance, CompletingRebalance, Dead)",
            description: "1 for the state each consumer group is in; one series per group.",
        },
        GROUP_OFFSET {
            name: "kafka.consumer_group.offset",
            instrument: Gauge,
            unit: "{message}",
            attributes: ["kafka.instance", "group", "topic", "partition"],
            source: "OffsetFetch on the group's coordinator: committed_offset",
            description: "Offset each group committed on each partition: the next record it will read.",
        },
        GROUP_LAG {
            name: "kafka.consumer_group.lag",
            instrument: Gauge,
            unit: "{message}",
            attributes: ["kafka.instance", "group", "topic", "partition"],
            source: "log-end offset (ListOffsets, read after) minus committed offset (OffsetFetch, read first), at least 0",
            description: "Records each group has not consumed on each partition. No series where the group committed nothing (see dozor.kafka.consumer_group.offset.missing).",
        },
        GROUP_LAG_SUM {
            name: "kafka.consumer_group.lag_sum",
            instrument: Gauge,
            unit: "{message}",
            attributes: ["kafka.instance", "group", "topic"],
            source: "sum of kafka.consumer_group.lag over the topic's partitions with a committed offset",
            description: "Records each group has not consumed on each topic.",
        },
        GROUP_LAG_AGE {
            name: "dozor.kafka.consumer_group.lag.age",
            instrument: Gauge,
            unit: "s",
            attributes: ["kafka.instance", "group", "topic", "partition"],
            source: "now minus the timestamp of the record at the committed offset (one Fetch per lagging partition, batched per leader); 0 when the lag is 0",
            description: "Age of the first record each group has not consumed on each partition: how far behind the group is in time.",
        },
        GROUP_OFFSET_MISSING {
            name: "dozor.kafka.consumer_group.offset.missing",
            instrument: Gauge,
            unit: "{partition}",
            attributes: ["kafka.instance", "group", "topic", "partition"],
            source: "OffsetFetch: committed_offset -1 on a partition of a topic the group is assigned or committed to",
            description: "1 when the group has no committed offset on the partition (it has no lag series there), 0 when it has one.",
        },
        GROUP_TOPIC_ASSIGNED {
            name: "dozor.kafka.consumer_group.topic.assigned",
            instrument: Gauge,
            unit: "{state}",
            attributes: ["kafka.instance", "group", "topic"],
            source: "DescribeGroups member assignments, and how long the committed offsets stood still",
            description: "1 while the group consumes the topic; 0 once it left it: a group with members none of which is assigned the topic, or an Empty group whose offsets on it have not moved for `left_after`.",
        },
        ORPHAN_OFFSETS {
            name: "dozor.kafka.consumer_group.orphaned_partitions",
            instrument: Gauge,
            unit: "{partition}",
            attributes: ["kafka.instance", "group"],
            source: "OffsetFetch: committed offsets on topics or partitions the cluster's metadata no longer has",
            description: "Partitions where each group has a committed offset but the topic or partition no longer exists (deleted): no lag is reported for them.",
        },
        OVERFLOW {
            name: "dozor.kafka.overflow.entities",
            instrument: Gauge,
            unit: "{entity}",
            attributes: ["kafka.instance"],
            source: "topic partitions and group partitions past max_series, counted at each collection",
            description: "Partitions (topic and group ones) folded into the `_other` series because the max_series budget was reached.",
        },
        REQUESTS {
            name: "dozor.kafka.requests",
            instrument: Counter,
            unit: "{request}",
            attributes: ["kafka.instance", "api"],
            source: "requests the agent's client sent, by Kafka API (Metadata, ListGroups, DescribeGroups, FindCoordinator, OffsetFetch, ListOffsets, Fetch, ApiVersions; SaslHandshake and SaslAuthenticate with SASL)",
            description: "Requests the agent sent to the cluster, by API: the integration's cost for the brokers.",
        },
    }
}
