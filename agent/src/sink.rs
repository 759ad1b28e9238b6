//! Where integrations put the log records they make (the order flow's lost-order events): a
//! trait, so that an integration never names the exporter that implements it
//! (`export::logs::Outbox`), and tests can hand in any sink.

use dozor_metrics::otlp::logs::v1::LogRecord;

/// Why records could not be appended; nothing of the call was appended.
pub type AppendError = Box<dyn std::error::Error + Send + Sync>;

/// A durable queue of OTLP log records.
pub trait LogSink: Send + Sync {
    /// Appends `records` of instrumentation scope `scope`, returning once they are on disk: a
    /// caller may then count them as delivered to the agent's pipeline.
    fn append(&self, scope: &str, records: Vec<LogRecord>) -> Result<(), AppendError>;

    /// The most records one `append` should carry.
    fn max_batch_records(&self) -> usize;
}
