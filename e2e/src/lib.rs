//! Ground truth shared by the end-to-end tests ([`delivery`], [`stored`]) and the hostile
//! requests of the collector's memory tests ([`hostile`]). Starting the real binaries and their
//! other peers (the collector, the agent, a fake Elasticsearch, VictoriaMetrics) on free ports is
//! in `dozor-testkit`, shared with the other crates' tests.

pub mod delivery;
pub mod hostile;
pub mod stored;
