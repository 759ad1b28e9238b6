//! Lost-key events: one per key the first time it is found lost, for Kibana.
//!
//! Each becomes an OTLP log record ([`LostEvent::to_log_record`]) appended to the exporter's
//! logs outbox (`crate::export::logs`), which sends it to the collector; the integration also
//! logs each at WARN with target `dozor_agent::flow::lost`.

use dozor_metrics::sample::string_kv;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, SeverityNumber};

/// The instrumentation scope of the log records.
pub const SCOPE: &str = "dozor.integration.flow";

/// A key that did not reach the next stage within its stage's SLA.
#[derive(Clone, Debug, PartialEq)]
pub struct LostEvent {
    /// Stable id of (flow, stage, key), usable as the Elasticsearch `_id` so a repeat is
    /// idempotent: 16 hex digits of FNV-1a 64.
    pub id: String,
    /// When the agent found it lost (RFC 3339, UTC).
    pub time: String,
    /// The flow's name.
    pub flow: String,
    /// The stage it did not leave.
    pub stage: String,
    /// The stage it never reached.
    pub next_stage: String,
    /// The key (order id).
    pub key: String,
    /// Seconds from `seen_at` to `time`.
    pub age_seconds: f64,
    /// When the stage saw it (RFC 3339, UTC).
    pub seen_at: String,
}

impl LostEvent {
    /// The event for `key`, seen at `stage` at `seen_at_us`, found lost at `now_us`.
    pub fn new(
        flow: &str,
        stage: &str,
        next_stage: &str,
        key: &str,
        seen_at_us: i64,
        now_us: i64,
    ) -> Self {
        LostEvent {
            id: event_id(flow, stage, key),
            time: rfc3339(now_us),
            flow: flow.to_owned(),
            stage: stage.to_owned(),
            next_stage: next_stage.to_owned(),
            key: key.to_owned(),
            age_seconds: (now_us - seen_at_us) as f64 / 1e6,
            seen_at: rfc3339(seen_at_us),
        }
    }

    /// The OTLP log record of this event: `event_name` `dozor.flow.lost`, severity WARN, a
    /// one-line body, and the fields as typed attributes (`dozor.flow.age` in seconds as a
    /// double, `dozor.flow.event_id` for idempotent indexing: the Elasticsearch `_id`). Sent in
    /// a `ScopeLogs` with scope [`SCOPE`] and the agent's resource.
    pub fn to_log_record(&self, time_unix_nano: u64) -> LogRecord {
        let double = |key: &str, v: f64| KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::DoubleValue(v)),
            }),
            ..Default::default()
        };
        LogRecord {
            time_unix_nano,
            observed_time_unix_nano: time_unix_nano,
            severity_number: SeverityNumber::Warn as i32,
            severity_text: "WARN".into(),
            event_name: "dozor.flow.lost".into(),
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(format!(
                    "Order {} of flow {} did not reach {} from {} within its SLA ({:.0} s since it was seen).",
                    self.key, self.flow, self.next_stage, self.stage, self.age_seconds
                ))),
            }),
            attributes: vec![
                string_kv("dozor.flow.event_id", &self.id),
                string_kv("dozor.flow.name", &self.flow),
                string_kv("dozor.flow.stage", &self.stage),
                string_kv("dozor.flow.next_stage", &self.next_stage),
                string_kv("dozor.flow.key", &self.key),
                double("dozor.flow.age", self.age_seconds),
                string_kv("dozor.flow.seen_at", &self.seen_at),
            ],
            ..Default::default()
        }
    }
}

/// FNV-1a 64 of `flow \0 stage \0 key`, as 16 hex digits.
fn event_id(flow: &str, stage: &str, key: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in [flow, stage, key].iter().enumerate() {
        if i > 0 {
            // A zero byte between parts: XOR with 0 leaves `h` as it is.
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        for b in part.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// Unix microseconds as RFC 3339 UTC with microseconds, e.g. `2026-11-25T01:02:03.000004Z`.
pub fn rfc3339(us: i64) -> String {
    let (year, month, day, h, m, s, micros) = civil(us);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{micros:06}Z")
}

/// Unix microseconds as UTC (year, month, day, hour, minute, second, microsecond).
pub fn civil(us: i64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let secs = us.div_euclid(1_000_000);
    let micros = us.rem_euclid(1_000_000) as u32;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    let (year, month, day) = dozor_metrics::time::civil_from_days(days);
    (
        year,
        month,
        day,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        micros,
    )
}

/// UTC date and time as unix microseconds; the inverse of [`civil`].
pub fn from_civil(year: i64, month: u32, day: u32, h: u32, m: u32, s: u32, us: u32) -> i64 {
    let days = dozor_metrics::time::days_from_civil(year, month, day);
    ((days * 86_400 + i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(s)) * 1_000_000)
        + i64::from(us)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        let cases = [
            (0, "1970-01-01T00:00:00.000000Z"),
            (1_000_001, "1970-01-01T00:00:01.000001Z"),
            (951_782_400_000_000, "2000-02-29T00:00:00.000000Z"),
            (1_795_568_523_500_000, "2026-11-25T01:02:03.500000Z"),
            (-1, "1969-12-31T23:59:59.999999Z"),
        ];
        for (us, want) in cases {
            assert_eq!(rfc3339(us), want, "{us}");
            let (y, mo, d, h, mi, s, micros) = civil(us);
            assert_eq!(from_civil(y, mo, d, h, mi, s, micros), us);
        }
    }

    #[test]
    fn becomes_an_otlp_log_record() {
        let event = LostEvent::new("orders", "shop", "mes", "17", 0, 600_500_000);
        let record = event.to_log_record(600_500_000_000);
        assert_eq!(record.event_name, "dozor.flow.lost");
        assert_eq!(record.severity_number, SeverityNumber::Warn as i32);
        let keys: Vec<&str> = record.attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "dozor.flow.event_id",
                "dozor.flow.name",
                "dozor.flow.stage",
                "dozor.flow.next_stage",
                "dozor.flow.key",
                "dozor.flow.age",
                "dozor.flow.seen_at"
            ]
        );
        let Some(any_value::Value::StringValue(body)) = record.body.and_then(|b| b.value) else {
            panic!("no body")
        };
        assert_eq!(
            body,
            "Order 17 of flow orders did not reach mes from shop within its SLA (600 s since it was seen)."
        );
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(
            event_id("orders", "shop", "42"),
            event_id("orders", "shop", "42")
        );
        assert_ne!(
            event_id("orders", "shop", "42"),
            event_id("orders", "shop4", "2")
        );
        assert_eq!(event_id("orders", "shop", "42").len(), 16);
    }
}
