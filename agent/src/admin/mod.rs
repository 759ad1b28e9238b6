//! The admin endpoint and the CLI that reads it (issue #15; docs/admin.md).
//!
//! - [`snapshot`]: the board the scheduler and the exporter publish their state on, without
//!   ever waiting; `/v1/status` is read from it alone.
//! - [`server`]: the read-only HTTP endpoint, on a thread and runtime of its own.
//! - [`status`]: the JSON document, shared by the server and the CLI.
//! - [`attention`]: what needs attention, each problem with its fix.
//! - [`client`]: the CLI's client, with a total timeout.
//! - [`report`]: `dozor-agent status` as text: the verdict first, then a compact report.

pub mod attention;
pub mod client;
pub mod config;
pub mod report;
pub mod server;
pub mod snapshot;
pub mod status;

pub use snapshot::Board;
