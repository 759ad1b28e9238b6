//! Ground truth shared by the end-to-end tests ([`delivery`]) and the hostile requests of the
//! collector's memory tests ([`hostile`]). Starting the real binaries and their peers (the
//! collector, the agent, a fake Elasticsearch) on free ports is in `dozor-testkit`, shared with
//! the other crates' tests.

pub mod delivery;
pub mod hostile;
