//! Tests against the shared Redis on 127.0.0.1:6379 (keys of their own, unique to the test and
//! deleted at the end; never FLUSHALL) and, for errors, throw-away `redis-server`s and fake
//! servers of their own.

mod errors;
mod ground_truth;
mod recorded;

use super::Redis;
use super::config::InstanceConfig;
use crate::integrations::{Integration, IntegrationError};
use dozor_metrics::sample::{Recorder, Sample};
use std::time::Duration;

/// The integration timeout the tests use: each call may take a quarter of it.
pub const TIMEOUT: Duration = Duration::from_secs(4);

/// The shared server.
pub const SHARED: &str = "127.0.0.1:6379";

/// A connection of the test's own to `address` (the ground truth is written through it).
pub fn connect(address: &str) -> redis::Connection {
    redis::Client::open(format!("redis://{address}/"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
        .unwrap_or_else(|e| {
            panic!(
                "Redis at {address}: {e}: start it with `redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save \"\" --appendonly no` (scripts/peers/redis.sh)"
            )
        })
}

/// Keys named `<prefix>...`, deleted on drop.
pub struct Keys(pub String);

impl Keys {
    pub fn new(name: &str) -> Keys {
        Keys(format!(
            "{}:",
            dozor_testkit::unique(&format!("dozortest_{name}"))
        ))
    }
    pub fn key(&self, k: &str) -> String {
        format!("{}{k}", self.0)
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        let mut c = connect(SHARED);
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.0))
            .query(&mut c)
            .unwrap_or_default();
        for k in keys {
            let _: Result<i64, _> = redis::cmd("DEL").arg(k).query(&mut c);
        }
    }
}

/// An instance named `name` at `address`.
pub fn instance(name: &str, address: &str) -> InstanceConfig {
    InstanceConfig {
        name: name.into(),
        address: address.into(),
        ..InstanceConfig::default()
    }
}

/// One run: what it recorded and how it ended.
pub fn collect(r: &mut Redis) -> (Vec<Sample>, Result<(), IntegrationError>) {
    let mut rec = Recorder::new();
    let result = r.collect(&mut rec);
    (rec.take(), result)
}

pub use crate::integrations::testing::value_after_instance as value;
