//! The agent's metrics about itself.

use crate::metric;

metric!(
    SCRAPE_DURATION {
        name: "dozor.agent.scrape.duration",
        instrument: Gauge,
        unit: "s",
        attributes: ["integration"],
        source: "the agent's clock around each integration run",
        description: "How long the integration's last run took.",
    },
    "agent"
);

metric!(
    SCRAPE_ERRORS {
        name: "dozor.agent.scrape.errors",
        instrument: Counter,
        unit: "{error}",
        attributes: ["integration", "error.type"],
        source: "integration runs that failed (error.type is the error kind) or timed out (error.type=timeout)",
        description: "Integration runs that failed.",
    },
    "agent"
);

metric!(
    SCRAPES {
        name: "dozor.agent.scrapes",
        instrument: Counter,
        unit: "{scrape}",
        attributes: ["integration"],
        source: "integration runs started",
        description: "Integration runs started, failed or not.",
    },
    "agent"
);

metric!(
    EXPORT_POINTS {
        name: "dozor.agent.export.points",
        instrument: Counter,
        unit: "{point}",
        attributes: ["outcome"],
        source: "data points of batches written to the agent's buffer, by their end: outcome=sent (acknowledged by a collector), dropped (deleted unsent to keep the buffer under its size bound, or lost with the buffer; exact) or rejected (refused permanently by the collector as malformed or too large)",
        description: "Data points the agent exported, by outcome.",
    },
    "agent"
);

metric!(
    EXPORT_REQUESTS {
        name: "dozor.agent.export.requests",
        instrument: Counter,
        unit: "{request}",
        attributes: ["endpoint", "outcome"],
        source: "OTLP export calls: outcome=sent, refused (the collector answered with an error: overloaded or unauthenticated, the batch is kept and retried; malformed, the batch is dropped and its points counted as rejected) or unreachable (no answer: the batch is kept and retried)",
        description: "OTLP export requests per collector endpoint, by outcome.",
    },
    "agent"
);

metric!(
    EXPORT_RETRIES {
        name: "dozor.agent.export.retries",
        instrument: Counter,
        unit: "{retry}",
        attributes: ["lane"],
        source: "waits before trying a batch again after every endpoint failed or was skipped: lane=live (fresh batches) or replay (the backlog)",
        description: "Batches tried again after a failed attempt.",
    },
    "agent"
);

metric!(
    EXPORT_CIRCUIT_BREAKER_STATE {
        name: "dozor.agent.export.circuit_breaker.state",
        instrument: Gauge,
        unit: "{state}",
        attributes: ["endpoint"],
        source: "the per-endpoint circuit breaker: 0 closed, 1 half-open (one probe), 2 open (endpoint skipped)",
        description: "State of the circuit breaker of each collector endpoint.",
    },
    "agent"
);

metric!(
    BUFFER_USAGE {
        name: "dozor.agent.buffer.usage",
        instrument: Gauge,
        unit: "By",
        attributes: [],
        source: "bytes of the buffer's segment files (bounded by exporters.otlp.buffer.max_bytes)",
        description: "Disk space used by the agent's delivery buffer.",
    },
    "agent"
);

metric!(
    BUFFER_PENDING_RECORDS {
        name: "dozor.agent.buffer.pending.records",
        instrument: Gauge,
        unit: "{request}",
        attributes: [],
        source: "export requests in the buffer not yet acknowledged by a collector",
        description: "Export requests waiting in the agent's buffer.",
    },
    "agent"
);

metric!(
    BUFFER_PENDING_POINTS {
        name: "dozor.agent.buffer.pending.points",
        instrument: Gauge,
        unit: "{point}",
        attributes: [],
        source: "data points of the buffer segments holding unacknowledged requests (an upper bound: the acknowledged part of the oldest segment is included)",
        description: "Data points waiting in the agent's buffer.",
    },
    "agent"
);

metric!(
    BUFFER_OLDEST_AGE {
        name: "dozor.agent.buffer.oldest_age",
        instrument: Gauge,
        unit: "s",
        attributes: [],
        source: "age of the oldest buffer segment holding an unacknowledged request (from its creation time); 0 when nothing is pending",
        description: "How far behind delivery is.",
    },
    "agent"
);

metric!(
    COLLECTION_PAUSED {
        name: "dozor.agent.collection.paused",
        instrument: Gauge,
        unit: "1",
        attributes: [],
        source: "1 while the buffer is full under when_full: pause and collection waits; runs missed meanwhile are counted in dozor.agent.scrape.errors{error.type=paused}",
        description: "Whether collection is paused by a full delivery buffer.",
    },
    "agent"
);

/// Every agent self-metric, in documentation order.
pub static ALL: &[&crate::MetricDef] = &[
    &SCRAPE_DURATION,
    &SCRAPE_ERRORS,
    &SCRAPES,
    &EXPORT_POINTS,
    &EXPORT_REQUESTS,
    &EXPORT_RETRIES,
    &EXPORT_CIRCUIT_BREAKER_STATE,
    &BUFFER_USAGE,
    &BUFFER_PENDING_RECORDS,
    &BUFFER_PENDING_POINTS,
    &BUFFER_OLDEST_AGE,
    &COLLECTION_PAUSED,
];
