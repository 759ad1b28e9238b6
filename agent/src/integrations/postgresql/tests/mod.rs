//! Tests against real PostgreSQL servers: the shared one on 127.0.0.1:5432 (trust auth, user
//! `postgres`) for throughput, and clusters of their own (initdb on free ports in a temporary
//! directory) for replication, passwords and preloaded extensions, so the shared server is
//! never reconfigured.

use dozor_metrics::sample::Sample;

pub use crate::integrations::testing::value;

mod cluster;
mod cost;
mod errors;
mod pgbench;
mod replica;
mod tls;

use super::{Config, InstanceConfig, Postgresql, config::Dsn};
use crate::integrations::{Context, Section};
use crate::integrations::{Integration, IntegrationError};
use dozor_metrics::sample::Recorder;
use std::time::Duration;

/// The shared server, as its superuser (key/value, without a database).
pub use dozor_testkit::pg::SERVER as SHARED;

/// An instance named `name` on `dsn`, with statements and heartbeat off unless changed.
pub fn instance(name: &str, dsn: &str) -> InstanceConfig {
    let mut i = InstanceConfig {
        name: name.into(),
        dsn: Dsn(dsn.into()),
        ..InstanceConfig::default()
    };
    i.statements.enabled = false;
    i
}

/// The integration for `config`, with a 5 s timeout.
pub fn integration(config: &InstanceConfig) -> Postgresql {
    Postgresql::new(config, Duration::from_secs(5))
}

/// One collection: its samples and its result.
pub fn collect(p: &mut Postgresql) -> (Vec<Sample>, Result<(), IntegrationError>) {
    let mut r = Recorder::new();
    let result = p.collect(&mut r);
    (r.take(), result)
}

/// Polls `check` every 100 ms until it returns `Some`, for at most `limit`.
pub fn poll<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let until = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if std::time::Instant::now() > until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn build_makes_one_integration_per_instance() {
    let config = Config {
        enabled: true,
        instances: vec![instance("shop", SHARED), instance("crm", SHARED)],
        ..Config::default()
    };
    let ctx = Context::for_tests(Duration::from_secs(15), Duration::from_secs(5));
    let built = config.build(&ctx);
    let names: Vec<&str> = built.iter().map(|s| s.integration.name()).collect();
    assert_eq!(names, ["postgresql/shop", "postgresql/crm"]);
    assert!(built.iter().all(|s| s.interval == Duration::from_secs(15)));
    assert!(Config::default().build(&ctx).is_empty());
}
