//! The integrations and their registry.
//!
//! An integration is a folder (or file) here named after its data source, a section of the
//! catalogue (`lib/dozor-metrics/src/catalogue/<name>.rs`), a Cargo feature of the same name,
//! and one line in [`registry!`] below, from which its configuration section
//! (`integrations.<name>`), its validation and its building follow. Its `Config` implements
//! [`Section`] (or [`Instance`], for one integration per configured server, behind the generic
//! [`Instances`] section); everything it may use comes in the [`Context`]. It never imports the
//! exporter, and the exporter imports no integration.
//!
//! An integration reads its source and records catalogue metrics into a [`Recorder`]. The
//! scheduler (`crate::scheduler`) runs each on its own interval and timeout, on a blocking thread,
//! records `dozor.agent.scrape.*` around every run, and keeps one failing or hanging integration
//! from affecting the others. One with several sources reports each through [`Sources`].

#[cfg(any(feature = "nats", feature = "redis"))]
mod budget;
mod context;
#[cfg(any(
    feature = "rabbitmq",
    feature = "kafka",
    feature = "nats",
    feature = "redis"
))]
mod filter;
#[cfg(any(feature = "nats", feature = "probes"))]
mod maybe_tls;
mod section;
#[cfg(any(feature = "host", feature = "tcp_info"))]
mod sock_diag;
mod sources;
#[cfg(test)]
pub mod testing;

#[cfg(feature = "access_log")]
pub mod access_log;
#[cfg(feature = "db")]
pub mod db;
#[cfg(feature = "demo")]
pub mod demo;
#[cfg(feature = "flow")]
pub mod flow;
#[cfg(feature = "host")]
pub mod host;
#[cfg(feature = "http_capture")]
pub mod http_capture;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "postgresql")]
pub mod postgresql;
#[cfg(feature = "probes")]
pub mod probes;
#[cfg(feature = "rabbitmq")]
pub mod rabbitmq;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "sql")]
pub mod sql;
#[cfg(feature = "tcp_info")]
pub mod tcp_info;

pub use context::{Context, Paths};
pub use section::{Instance, Instances, Section};
pub use sources::Sources;

use dozor_metrics::sample::Recorder;
use std::time::Duration;

/// The registry: one line per integration, `name = "feature"`, in the order they are built. It
/// makes the `integrations` section of the configuration (a field per integration; a section
/// of an integration left out of this build is accepted only while not enabled), its
/// validation and the list of what to run.
macro_rules! registry {
    ($( $(#[doc = $doc:literal])* $name:ident = $feature:literal, )*) => {
        /// One section per integration.
        #[derive(Debug, Default, serde::Deserialize)]
        #[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
        #[serde(default)]
        pub struct IntegrationsConfig {
            $(
                $(#[doc = $doc])*
                #[cfg(feature = $feature)]
                pub $name: $name::Config,
                $(#[doc = $doc])*
                #[cfg(not(feature = $feature))]
                pub $name: section::NotBuilt,
            )*
        }

        impl IntegrationsConfig {
            /// Reports every problem of every section, under `integrations`.
            pub fn validate(&self, at: &mut dozor_config::At<'_>) {
                $( Section::validate(&self.$name, &mut at.at(stringify!($name))); )*
            }

            /// Every integration the configuration enables, ready to schedule.
            pub fn build(&self, ctx: &Context) -> Vec<Scheduled> {
                let mut out = Vec::new();
                $( out.extend(Section::build(&self.$name, ctx)); )*
                out
            }
        }
    };
}

registry! {
    /// Host metrics and cgroups (containers, services, the agent itself).
    host = "host",
    /// Synthetic series with known values, for trying the pipeline out and for tests.
    demo = "demo",
    /// PostgreSQL servers: throughput, connections, locks, replication, statements, sizes.
    postgresql = "postgresql",
    /// MySQL and MariaDB servers: commands, threads, buffer pool, replication.
    mysql = "mysql",
    /// RabbitMQ brokers: queue depth, consumers, message rates, dead-letter queues, node health.
    rabbitmq = "rabbitmq",
    /// Kafka clusters: consumer-group lag in records and seconds, topics, partitions.
    kafka = "kafka",
    /// NATS JetStream: streams and consumers (pending, ack pending, redelivered).
    nats = "nats",
    /// Redis: list and stream lengths, stream consumer-group pending and lag, memory, clients.
    redis = "redis",
    /// Order-flow reconciliation: keys passing through stages in several databases.
    flow = "flow",
    /// Business metrics from the user's own read-only queries (PostgreSQL, MySQL, MariaDB).
    sql = "sql",
    /// HTTP/1.x RED from captured packets (libpcap): requests, durations, in-flight requests.
    http_capture = "http_capture",
    /// HTTP RED of web servers from their access logs (nginx, Apache, custom, JSON lines).
    access_log = "access_log",
    /// Network probes to each target: TCP connect, ICMP echo, HTTP(S) phases, DNS.
    probes = "probes",
    /// Passive TCP per peer from the kernel's tcp_info (Linux): RTT, retransmits, loss, bytes.
    tcp_info = "tcp_info",
}

/// Why an integration run failed. `kind` becomes the `error.type` label: keep it a short,
/// bounded word (`io`, `parse`, `connect`, `auth`, `timeout`), never a message.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct IntegrationError {
    /// Bounded error class for the `error.type` label.
    pub kind: &'static str,
    /// Human-readable detail for the log line.
    pub message: String,
}

impl IntegrationError {
    /// An error of the given class.
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        IntegrationError {
            kind,
            message: message.into(),
        }
    }
}

impl From<std::io::Error> for IntegrationError {
    fn from(e: std::io::Error) -> Self {
        IntegrationError::new("io", e.to_string())
    }
}

/// One data source.
pub trait Integration: Send {
    /// Name used as the `integration` label: the section's name, or `<section>/<instance>`
    /// for one integration per configured server.
    fn name(&self) -> &str;

    /// Reads the source once and records what it found. Blocking I/O is fine: it runs on a
    /// blocking thread under a timeout. Partial results may be recorded before an error.
    fn collect(&mut self, recorder: &mut Recorder) -> Result<(), IntegrationError>;

    /// True when some values are differences between two readings (CPU utilization);
    /// `collect --once` then reads twice within the call.
    fn needs_two_samples(&self) -> bool {
        false
    }
}

/// An enabled integration with its schedule.
pub struct Scheduled {
    /// The integration.
    pub integration: Box<dyn Integration>,
    /// Time between runs.
    pub interval: Duration,
    /// Longest a run may take before it is counted as a timeout.
    pub timeout: Duration,
}
