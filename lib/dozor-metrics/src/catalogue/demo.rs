//! The demo integration's metric: synthetic data with a known value, for trying dozor out and for
//! end-to-end tests that need ground truth.

metrics! {
    section: "Demo data (`demo` integration)",
    emitter: "demo",
    metrics: {
        DEMO_RUNS {
            name: "dozor.demo.runs",
            instrument: Counter,
            unit: "{run}",
            attributes: ["series"],
            source: "the demo integration: every series holds the number of runs of the integration since the agent started",
            description: "Synthetic counter: runs of the demo integration, once per configured series.",
        },
    }
}
