//! The `flow` integration's metrics: order-flow reconciliation across systems.
//!
//! A flow is a chain of stages (shop -> MES -> CRM), each read by a read-only SQL query returning
//! the keys (order ids) seen at that stage and when. For every stage but the last, each key it has
//! seen is exactly one of: passed on (also seen at the next stage), in flight (not yet, younger
//! than the stage's SLA) or lost (not yet, older than the SLA). `flow` and `stage` values come
//! from the configuration, so they form a small, fixed set. The `dozor.flow.stage.*` counters are
//! kept in the flow's state file: they count since it was created and do not reset when the
//! agent restarts.

metrics! {
    section: "Order flow (`flow` integration)",
    emitter: "flow",
    metrics: {
        ENTERED {
            name: "dozor.flow.stage.entered",
            instrument: Counter,
            unit: "{key}",
            attributes: ["flow", "stage"],
            source: "the stage's query: keys returned for the first time",
            description: "Keys seen at the stage for the first time.",
        },
        PASSED {
            name: "dozor.flow.stage.passed",
            instrument: Counter,
            unit: "{key}",
            attributes: ["flow", "stage"],
            source: "keys seen at the stage that were also returned by the next stage's query",
            description: "Keys seen at the stage that reached the next stage, late ones included.",
        },
        LOST {
            name: "dozor.flow.stage.lost",
            instrument: Counter,
            unit: "{key}",
            attributes: ["flow", "stage"],
            source: "keys seen at the stage, not at the next stage, and older than the stage's sla",
            description: "Keys that did not reach the next stage within the stage's SLA; each key counts once.",
        },
        RECOVERED {
            name: "dozor.flow.stage.recovered",
            instrument: Counter,
            unit: "{key}",
            attributes: ["flow", "stage"],
            source: "keys counted lost that the next stage's query returned later",
            description: "Lost keys that reached the next stage after all (late); also counted as passed.",
        },
        IN_FLIGHT {
            name: "dozor.flow.stage.in_flight",
            instrument: Gauge,
            unit: "{key}",
            attributes: ["flow", "stage"],
            source: "keys seen at the stage, not yet at the next stage, younger than the stage's sla",
            description: "Keys on their way from the stage to the next one, within the SLA.",
        },
        OLDEST_IN_FLIGHT_AGE {
            name: "dozor.flow.stage.oldest_in_flight_age",
            instrument: Gauge,
            unit: "s",
            attributes: ["flow", "stage"],
            source: "now minus the earliest seen_at of the keys in flight; 0 when none",
            description: "Age of the oldest key in flight from the stage to the next one.",
        },
        SLA {
            name: "dozor.flow.stage.sla",
            instrument: Gauge,
            unit: "s",
            attributes: ["flow", "stage"],
            source: "configuration: integrations.flow.flows[].stages[].sla",
            description: "Time a key may take from the stage to the next one before it counts as lost.",
        },
        UNTRACKED {
            name: "dozor.flow.untracked",
            instrument: Counter,
            unit: "{key}",
            attributes: ["flow"],
            source: "keys not tracked because the flow held max_keys_in_flight keys",
            description: "Keys the flow could not track because its max_keys_in_flight bound was reached.",
        },
        EVENTS_WRITTEN {
            name: "dozor.flow.events.written",
            instrument: Counter,
            unit: "{event}",
            attributes: ["flow"],
            source: "lost-key events appended to the agent's logs outbox (and synced) as OTLP log records, after which the flow's state marks them reported",
            description: "Lost-key events written to the logs outbox.",
        },
        EVENTS_FAILED {
            name: "dozor.flow.events.failed",
            instrument: Counter,
            unit: "{event}",
            attributes: ["flow"],
            source: "lost-key events whose append to the logs outbox failed (full under when_full: pause, disk error); they stay unreported in the flow's state and are tried again next run",
            description: "Lost-key events that could not be written to the logs outbox (they are still logged, and retried).",
        },
    }
}
