//! The `nats` integration's metrics: JetStream streams and consumers, read through the client
//! protocol's JetStream API (`$JS.API.STREAM.LIST`, `$JS.API.CONSUMER.INFO.<stream>.<consumer>`,
//! ...) so no monitoring port is needed (see `agent/src/integrations/nats`).
//!
//! The OpenTelemetry Collector has no NATS receiver: names are `dozor.nats.*`. Every series
//! carries `nats.instance`, the instance's name in the agent's configuration. Streams and
//! consumers beyond the instance's `max_series` budget are folded into `nats.stream="_other"` or
//! `nats.consumer="_other"` (their sums) and counted in `dozor.nats.overflow.entities`.

metrics! {
    section: "NATS JetStream (`nats` integration)",
    emitter: "nats",
    metrics: {
        UP {
            name: "dozor.nats.up",
            instrument: Gauge,
            unit: "{status}",
            attributes: ["nats.instance"],
            source: "1 when the last collection connected and the JetStream API answered, 0 otherwise",
            description: "Whether the agent could connect to the server and read JetStream (1) or not (0).",
        },
        STREAM_MESSAGES {
            name: "dozor.nats.stream.messages",
            instrument: Gauge,
            unit: "{message}",
            attributes: ["nats.instance", "nats.stream"],
            source: "$JS.API.STREAM.LIST state.messages",
            description: "Messages stored in a stream.",
        },
        STREAM_BYTES {
            name: "dozor.nats.stream.bytes",
            instrument: Gauge,
            unit: "By",
            attributes: ["nats.instance", "nats.stream"],
            source: "$JS.API.STREAM.LIST state.bytes",
            description: "Bytes stored in a stream.",
        },
        STREAM_FIRST_SEQUENCE {
            name: "dozor.nats.stream.first_sequence",
            instrument: Gauge,
            unit: "{sequence}",
            attributes: ["nats.instance", "nats.stream"],
            source: "$JS.API.STREAM.LIST state.first_seq (not reported for `_other`)",
            description: "Sequence number of the oldest message in a stream.",
        },
        STREAM_LAST_SEQUENCE {
            name: "dozor.nats.stream.last_sequence",
            instrument: Gauge,
            unit: "{sequence}",
            attributes: ["nats.instance", "nats.stream"],
            source: "$JS.API.STREAM.LIST state.last_seq (not reported for `_other`); its rate is the publish rate",
            description: "Sequence number of the newest message in a stream.",
        },
        STREAM_CONSUMERS {
            name: "dozor.nats.stream.consumers",
            instrument: Gauge,
            unit: "{consumer}",
            attributes: ["nats.instance", "nats.stream"],
            source: "$JS.API.STREAM.LIST state.consumer_count",
            description: "Consumers defined on a stream.",
        },
        CONSUMER_EXISTS {
            name: "dozor.nats.consumer.exists",
            instrument: Gauge,
            unit: "{status}",
            attributes: ["nats.instance", "nats.stream", "nats.consumer"],
            source: "1 for every consumer found; 0 for a consumer named in the configuration that the server does not have (yet)",
            description: "Whether a consumer exists (1) or is configured but absent (0).",
        },
        CONSUMER_PENDING {
            name: "dozor.nats.consumer.pending",
            instrument: Gauge,
            unit: "{message}",
            attributes: ["nats.instance", "nats.stream", "nats.consumer"],
            source: "$JS.API.CONSUMER.LIST num_pending: messages matching the consumer's filter not yet delivered",
            description: "Messages a consumer has not been delivered yet.",
        },
        CONSUMER_ACK_PENDING {
            name: "dozor.nats.consumer.ack_pending",
            instrument: Gauge,
            unit: "{message}",
            attributes: ["nats.instance", "nats.stream", "nats.consumer"],
            source: "$JS.API.CONSUMER.LIST num_ack_pending",
            description: "Messages delivered to a consumer and not yet acknowledged.",
        },
        CONSUMER_REDELIVERED {
            name: "dozor.nats.consumer.redelivered",
            instrument: Gauge,
            unit: "{message}",
            attributes: ["nats.instance", "nats.stream", "nats.consumer"],
            source: "$JS.API.CONSUMER.LIST num_redelivered: unacknowledged messages delivered more than once",
            description: "Unacknowledged messages that were delivered more than once.",
        },
        CONSUMER_WAITING {
            name: "dozor.nats.consumer.waiting",
            instrument: Gauge,
            unit: "{request}",
            attributes: ["nats.instance", "nats.stream", "nats.consumer"],
            source: "$JS.API.CONSUMER.LIST num_waiting: pull requests waiting for messages",
            description: "Pull requests waiting on a pull consumer.",
        },
        CONSUMER_LAG_AGE {
            name: "dozor.nats.consumer.lag.age",
            instrument: Gauge,
            unit: "s",
            attributes: ["nats.instance", "nats.stream", "nats.consumer"],
            source: "now minus the time the stream received the consumer's oldest undelivered message ($JS.API.STREAM.MSG.GET with seq delivered.stream_seq + 1 and next_by_subj the consumer's filter); 0 when nothing is pending; not reported for `_other`",
            description: "Age of the oldest message not yet delivered to a consumer.",
        },
        CONSUMER_ACK_FLOOR {
            name: "dozor.nats.consumer.ack_floor",
            instrument: Gauge,
            unit: "{sequence}",
            attributes: ["nats.instance", "nats.stream", "nats.consumer"],
            source: "$JS.API.CONSUMER.LIST ack_floor.stream_seq: every message up to it is acknowledged (not reported for `_other`)",
            description: "Stream sequence up to which a consumer has acknowledged every message.",
        },
        CONSUMER_DELIVERED {
            name: "dozor.nats.consumer.delivered",
            instrument: Gauge,
            unit: "{sequence}",
            attributes: ["nats.instance", "nats.stream", "nats.consumer"],
            source: "$JS.API.CONSUMER.LIST delivered.stream_seq: the last stream sequence delivered (not reported for `_other`)",
            description: "Stream sequence of the last message delivered to a consumer.",
        },
        OVERFLOW_ENTITIES {
            name: "dozor.nats.overflow.entities",
            instrument: Gauge,
            unit: "{entity}",
            attributes: ["nats.instance", "kind"],
            source: "streams (kind=stream) and consumers (kind=consumer) beyond max_series, folded into the `_other` series",
            description: "Entities folded into the `_other` series because the series budget was reached.",
        },
    }
}
