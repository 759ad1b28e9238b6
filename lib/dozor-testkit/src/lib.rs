//! Test helpers shared by the workspace's tests, one copy of each:
//!
//! - [`pg`] and [`mariadb`]: throwaway databases on the shared PostgreSQL (127.0.0.1:5432) and
//!   MariaDB (127.0.0.1:3306) servers, under names unique to the process, dropped on drop; a
//!   missing server is a loud failure naming the command that starts it, never a skip.
//! - [`proc`], [`http`] and [`collector`]: the workspace's real binaries and external tools as
//!   processes on free loopback ports, HTTP and PromQL against them, deadlines instead of sleeps.
//! - [`elasticsearch`]: a fake Elasticsearch `_bulk` API with faults on demand.
//! - [`tmpfs`]: small file systems of a test's own, to fill up.
//! - [`kafka`]: a throwaway noida-db (Kafka protocol) and kafka-python scripts against it.
//! - [`nginx`]: a throwaway nginx with a known access-log format and routes.
//! - [`netns`]: test hosts in network namespaces joined by veth pairs.
//! - [`victoriametrics`] and [`prometheus`]: real time-series stores to remote_write to, read
//!   back sample by sample.
//!
//! The most used items are re-exported at the root: `use dozor_testkit::{Collector, wait_for};`.
//!
//! Throwaway *servers* (a `mariadbd` or an `initdb` cluster of a test's own, for settings the
//! shared servers must not get) stay with the tests that need them.

pub mod collector;
pub mod elasticsearch;
pub mod http;
pub mod kafka;
pub mod mariadb;
pub mod netns;
pub mod nginx;
pub mod pg;
pub mod proc;
pub mod prometheus;
pub mod tmpfs;
pub mod tmux;
pub mod victoriametrics;

pub use collector::{Collector, start_agent};
pub use http::{http_get, prom_query, prom_result, url_encode};
pub use proc::{Proc, bin, free_port, rss_kib, tool, wait_for};
pub use prometheus::Prometheus;
pub use tmux::Tmux;
pub use victoriametrics::VictoriaMetrics;

use std::sync::atomic::{AtomicU32, Ordering};

/// A name no other test of this run and no concurrent run uses: `<prefix>_<pid>_<n>`, `n`
/// counting up within the process. Fit for database, role and application names when `prefix`
/// is lower case letters, digits and `_`.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{}_{n}", std::process::id())
}

/// [`unique`], checked to be a plain SQL identifier (no quoting needed) of at most 63 bytes,
/// PostgreSQL's limit; a bad prefix is the caller's bug.
fn database_name(prefix: &str) -> String {
    let name = unique(prefix);
    assert!(
        name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && name.len() <= 63,
        "database name {name:?}: give a prefix of lower case letters, digits and _, \
         starting with a letter, at most about 45 characters"
    );
    name
}
