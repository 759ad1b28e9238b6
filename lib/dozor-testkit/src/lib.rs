//! Test helpers shared by the workspace's tests, one copy of each:
//!
//! - [`proc`], [`http`] and [`collector`]: the workspace's real binaries and external tools as
//!   processes on free loopback ports, HTTP and PromQL against them, deadlines instead of sleeps.
//! - [`elasticsearch`]: a fake Elasticsearch `_bulk` API with faults on demand.
//!
//! The most used items are re-exported at the root: `use dozor_testkit::{Collector, wait_for};`.

pub mod collector;
pub mod elasticsearch;
pub mod http;
pub mod proc;

pub use collector::{Collector, start_agent};
pub use http::{http_get, prom_query, prom_result, url_encode};
pub use proc::{Proc, bin, free_port, tool, wait_for};

