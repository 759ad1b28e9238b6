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
    SCRAPE_SOURCE_SUCCESS {
        name: "dozor.agent.scrape.source.success",
        instrument: Gauge,
        unit: "{status}",
        attributes: ["integration", "source"],
        source: "each source of a multi-source integration (the host integration's /proc and /sys readers, each statistics view a PostgreSQL instance reads, each MySQL statement, each stage of an order flow) on every run that read it: 1 read, 0 failed; a source this host does not have is 1 and one skipped by its own schedule keeps its last value",
        description: "Whether each source of an integration was read in its last run (1) or failed (0).",
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
    EXPORT_LOG_RECORDS {
        name: "dozor.agent.export.log_records",
        instrument: Counter,
        unit: "{log_record}",
        attributes: ["outcome"],
        source: "log records (lost-order events) of requests written to the agent's logs outbox, by their end: outcome=sent (acknowledged by a collector), dropped (deleted unsent to keep the outbox under its size bound; exact) or rejected (refused permanently by the collector, or reported not stored by it)",
        description: "Log records the agent exported, by outcome.",
    },
    "agent"
);

metric!(
    EXPORT_REQUESTS {
        name: "dozor.agent.export.requests",
        instrument: Counter,
        unit: "{request}",
        attributes: ["endpoint", "outcome", "signal"],
        source: "OTLP export calls, signal=metrics or logs: outcome=sent, refused (the collector answered with an error: overloaded or unauthenticated, the batch is kept and retried; malformed, the batch is dropped and its points counted as rejected) or unreachable (no answer: the batch is kept and retried)",
        description: "OTLP export requests per collector endpoint, by outcome.",
    },
    "agent"
);

metric!(
    EXPORT_RETRIES {
        name: "dozor.agent.export.retries",
        instrument: Counter,
        unit: "{retry}",
        attributes: ["lane", "signal"],
        source: "waits before trying a batch again after every endpoint failed or was skipped: lane=live (fresh batches) or replay (the backlog); signal=metrics or logs (logs use the replay lane only)",
        description: "Batches tried again after a failed attempt.",
    },
    "agent"
);

metric!(
    EXPORT_CIRCUIT_BREAKER_STATE {
        name: "dozor.agent.export.circuit_breaker.state",
        instrument: Gauge,
        unit: "{state}",
        attributes: ["endpoint", "signal"],
        source: "the circuit breaker of each endpoint and signal (metrics and logs each have their own): 0 closed, 1 half-open (one probe), 2 open (endpoint skipped)",
        description: "State of the circuit breaker of each collector endpoint.",
    },
    "agent"
);

metric!(
    BUFFER_USAGE {
        name: "dozor.agent.buffer.usage",
        instrument: Gauge,
        unit: "By",
        attributes: ["signal"],
        source: "bytes of the buffer's segment files: signal=metrics, bounded by exporters.otlp.buffer.max_bytes; signal=logs (the logs outbox), by exporters.otlp.logs.buffer.max_bytes",
        description: "Disk space used by the agent's delivery buffers.",
    },
    "agent"
);

metric!(
    BUFFER_PENDING_RECORDS {
        name: "dozor.agent.buffer.pending.records",
        instrument: Gauge,
        unit: "{request}",
        attributes: ["signal"],
        source: "export requests in the buffer (signal=metrics) or the logs outbox (signal=logs) not yet acknowledged by a collector",
        description: "Export requests waiting in the agent's buffers.",
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
        attributes: ["signal"],
        source: "age of the oldest segment of the buffer (signal=metrics) or the logs outbox (signal=logs) holding an unacknowledged request (from its creation time); 0 when nothing is pending",
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
    &SCRAPE_SOURCE_SUCCESS,
    &EXPORT_POINTS,
    &EXPORT_LOG_RECORDS,
    &EXPORT_REQUESTS,
    &EXPORT_RETRIES,
    &EXPORT_CIRCUIT_BREAKER_STATE,
    &BUFFER_USAGE,
    &BUFFER_PENDING_RECORDS,
    &BUFFER_PENDING_POINTS,
    &BUFFER_OLDEST_AGE,
    &COLLECTION_PAUSED,
];
