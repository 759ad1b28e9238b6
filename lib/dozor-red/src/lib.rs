//! HTTP RED without application changes: what the agent's `http_capture` and `access_log`
//! integrations and the collector's spans-to-RED share, so all three produce the same series.
//!
//! - [`routes`] turns a request target (`/orders/4711?x=1`) into a bounded route
//!   (`/orders/{id}`): configured patterns, OpenAPI paths, then automatic templating.
//! - [`red::Red`] aggregates finished requests into the catalogue's `http.*` histograms, keeps
//!   the requests in flight (so a 30-minute request is visible while it runs), and holds the
//!   series budget.

pub mod method;
mod openapi;
pub mod red;
pub mod routes;

pub use red::{Begin, Exchange, Red, RedConfig, Side};
pub use routes::{Routes, RoutesConfig, RoutesError};

/// Bucket bounds of the request durations, seconds: 1 ms to 1 h, so a 30-minute calculation
/// has buckets on both sides of it.
pub const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
];

/// Bucket bounds of body sizes, bytes: 0 (no body) to 100 MiB.
pub const SIZE_BUCKETS: &[f64] = &[
    0.0,
    100.0,
    1_000.0,
    10_000.0,
    100_000.0,
    1_000_000.0,
    10_000_000.0,
    100_000_000.0,
];
