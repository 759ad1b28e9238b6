//! Tests against real MariaDB servers: throw-away ones started by the tests for exact counts
//! and replication ([`server`]), and the shared one on 127.0.0.1:3306 for errors (with users
//! of their own, dropped at the end).

mod errors;
mod ground_truth;
mod replica;
mod server;
mod tls;

use super::Mysql;
use super::config::{Dsn, InstanceConfig};
use crate::integrations::{Integration, IntegrationError};
use dozor_metrics::sample::{Recorder, Sample};
use std::time::Duration;

/// The integration timeout the tests use: each call may take a quarter of it.
pub const TIMEOUT: Duration = Duration::from_secs(8);

/// An instance named `name` at `dsn`, with the defaults otherwise.
pub fn instance(name: &str, dsn: &str) -> InstanceConfig {
    InstanceConfig {
        name: name.into(),
        dsn: Dsn(dsn.into()),
        ..InstanceConfig::default()
    }
}

/// One run: what it recorded and how it ended.
pub fn collect(m: &mut Mysql) -> (Vec<Sample>, Result<(), IntegrationError>) {
    let mut r = Recorder::new();
    let result = m.collect(&mut r);
    (r.take(), result)
}

pub use crate::integrations::testing::value_after_instance as value;
