//! Tests against the shared NATS with JetStream on 127.0.0.1:4222 (streams of their own,
//! unique to the test and deleted at the end) and, for errors, throw-away `nats-server`s and
//! fake servers of their own. The test publishes, fetches and acknowledges through the same
//! small client the integration uses ([`JsClient`]); the ground truth is what the test sent
//! and acknowledged, and the PubAck sequence numbers the server returned.

mod errors;
mod ground_truth;
mod recorded;
mod tls;

use super::Nats;
use super::client::{Auth, Client};
use super::config::InstanceConfig;
use crate::integrations::{Integration, IntegrationError};
use dozor_metrics::sample::{Recorder, Sample};
use std::time::Duration;

/// The integration timeout the tests use: each call may take a quarter of it.
pub const TIMEOUT: Duration = Duration::from_secs(4);

/// The shared server.
pub const SHARED: &str = "127.0.0.1:4222";

/// The test's own JetStream client.
pub struct JsClient(pub Client);

impl JsClient {
    pub fn connect(address: &str) -> JsClient {
        JsClient(
            Client::connect(address, &Auth::default(), None, Duration::from_secs(5)).unwrap_or_else(
                |e| {
                    panic!(
                        "NATS at {address}: {e:?}: start it with `start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log` (scripts/peers/nats.sh)"
                    )
                },
            ),
        )
    }

    /// A JetStream API call; panics on an error reply.
    pub fn api(&mut self, subject: &str, body: serde_json::Value) -> serde_json::Value {
        let reply = self
            .0
            .request(subject, body.to_string().as_bytes())
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
        assert!(v.get("error").is_none(), "{subject}: {v}");
        v
    }

    /// A memory stream `name` on subjects `name.>`.
    pub fn create_stream(&mut self, name: &str) {
        self.api(
            &format!("$JS.API.STREAM.CREATE.{name}"),
            serde_json::json!({"name": name, "subjects": [format!("{name}.>")], "storage": "memory"}),
        );
    }

    /// Publishes `n` messages and returns the sequences the server acknowledged.
    pub fn publish(&mut self, stream: &str, n: usize) -> Vec<u64> {
        (0..n)
            .map(|i| {
                let r = self
                    .0
                    .request(&format!("{stream}.orders"), format!("order {i}").as_bytes())
                    .unwrap();
                let ack: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
                ack["seq"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("PubAck {ack}"))
            })
            .collect()
    }

    /// A durable pull consumer with explicit acks.
    pub fn create_consumer(&mut self, stream: &str, name: &str) {
        self.api(
            &format!("$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{name}"),
            serde_json::json!({"stream_name": stream, "config": {"durable_name": name, "ack_policy": "explicit"}}),
        );
    }

    /// Fetches `k` messages; returns their ack subjects.
    pub fn fetch(&mut self, stream: &str, consumer: &str, k: usize) -> Vec<String> {
        let msgs = self
            .0
            .request_many(
                &format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"),
                format!("{{\"batch\":{k},\"expires\":2000000000}}").as_bytes(),
                k,
            )
            .unwrap();
        msgs.into_iter()
            .map(|m| {
                assert_eq!(m.status, None, "{m:?}");
                m.reply.expect("a JetStream message has an ack subject")
            })
            .collect()
    }

    /// Acknowledges and waits for the server to confirm.
    pub fn ack(&mut self, ack_subject: &str) {
        self.0.request(ack_subject, b"+ACK").unwrap();
    }

    pub fn delete_stream(&mut self, name: &str) {
        let _ = self
            .0
            .request(&format!("$JS.API.STREAM.DELETE.{name}"), b"");
    }
}

/// A stream name unique to the test, deleted on drop.
pub struct TestStream(pub String);

impl TestStream {
    pub fn new(prefix: &str) -> TestStream {
        TestStream(dozor_testkit::unique(prefix).to_uppercase())
    }
}

impl Drop for TestStream {
    fn drop(&mut self) {
        JsClient::connect(SHARED).delete_stream(&self.0);
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
pub fn collect(n: &mut Nats) -> (Vec<Sample>, Result<(), IntegrationError>) {
    let mut rec = Recorder::new();
    let result = n.collect(&mut rec);
    (rec.take(), result)
}

pub use crate::integrations::testing::value_after_instance as value;
