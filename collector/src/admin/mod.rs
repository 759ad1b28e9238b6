//! The admin endpoint (`admin.listen`, default `127.0.0.1:8688`) and the subcommands that read
//! it: `dozor-collector status` and `dozor-collector top` (`docs/collector-admin.md`).
//!
//! ```text
//! server:   GET /v1/status -> snapshot::build(pipeline, limits)  (JSON, schema in snapshot.rs)
//!           GET /v1/health -> "ok"
//! CLI:      endpoint (flags, else config) -> dozor_top::Target::get -> status::render / top::model
//! ```
//!
//! The snapshot is read from what the subsystems publish (atomics, mutexes held briefly), never
//! by asking one of them and waiting: the endpoint answers while a receiver or an exporter is
//! stuck.

pub mod endpoint;
pub mod server;
pub mod snapshot;
pub mod status;
pub mod top;
