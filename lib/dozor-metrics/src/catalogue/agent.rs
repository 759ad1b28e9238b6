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
        source: "data points handed to the sender: outcome=sent (acknowledged by a collector), failed (every attempt failed) or dropped (the export queue was full)",
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
        source: "OTLP export calls: outcome=sent, refused (the collector answered with an error) or unreachable",
        description: "OTLP export requests per collector endpoint, by outcome.",
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
];
