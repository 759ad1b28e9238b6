//! When and whether to try a batch again: the classification of every collector answer
//! (as `docs/adr/0005-delivery-protocol.md` fixes it), exponential backoff with full jitter, and the
//! collector's own `retry-after` (gRPC metadata or `RetryInfo` detail, HTTP header).

use std::time::Duration;

/// Longest `retry-after` honoured: a larger value is taken as this, so that a wrong or
/// hostile answer cannot stall delivery for hours.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// What one attempt at one endpoint came to, when it was not a success.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// Try again later (overload, shutting down, unreachable, any unexpected answer): the
    /// batch is kept. `retry_after` is the collector's hint, if it gave one.
    #[error("{what}")]
    Retryable {
        /// A short description: status code or transport error kind.
        what: String,
        /// The collector's `retry-after`, capped at [`MAX_RETRY_AFTER`].
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused or reset, TLS handshake failed, timed out. Retried.
    #[error("unreachable: {what}")]
    Unreachable {
        /// The transport error.
        what: String,
    },
    /// No or unknown token: a configuration error; the batch is kept and retried.
    #[error("not authenticated ({what})")]
    Unauthenticated {
        /// Status code.
        what: String,
    },
    /// Malformed or too large: the batch is dropped and its points counted as rejected.
    #[error("rejected ({what})")]
    Permanent {
        /// Status code.
        what: String,
    },
}

impl Failure {
    /// A short bounded label for logs: `retryable`, `unreachable`, `unauthenticated` or
    /// `rejected`.
    pub fn label(&self) -> &'static str {
        match self {
            Failure::Retryable { .. } => "retryable",
            Failure::Unreachable { .. } => "unreachable",
            Failure::Unauthenticated { .. } => "unauthenticated",
            Failure::Permanent { .. } => "rejected",
        }
    }

    /// The `outcome` of `dozor.agent.export.requests`: `unreachable` when no collector
    /// answered, `refused` when one answered with an error.
    pub fn outcome(&self) -> &'static str {
        match self {
            Failure::Unreachable { .. } => "unreachable",
            _ => "refused",
        }
    }

    /// The collector's hint, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Failure::Retryable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Classifies a gRPC status. `retry_after` is what the answer carried (metadata or RetryInfo).
pub fn classify_grpc(code: tonic::Code, retry_after: Option<Duration>) -> Failure {
    use tonic::Code;
    let what = format!("gRPC {code:?}");
    match code {
        Code::InvalidArgument => Failure::Permanent { what },
        // OTLP: RESOURCE_EXHAUSTED is retryable only with retry information.
        Code::ResourceExhausted if retry_after.is_none() => Failure::Permanent { what },
        Code::Unauthenticated | Code::PermissionDenied => Failure::Unauthenticated { what },
        // Everything else keeps the data: at least once means a misconfigured or unexpected
        // endpoint must not turn into loss.
        _ => Failure::Retryable { what, retry_after },
    }
}

/// Classifies a non-success HTTP status.
pub fn classify_http(status: u16, retry_after: Option<Duration>) -> Failure {
    let what = format!("HTTP {status}");
    match status {
        400 | 413 => Failure::Permanent { what },
        401 | 403 => Failure::Unauthenticated { what },
        _ => Failure::Retryable { what, retry_after },
    }
}

/// Parses a `retry-after` value in decimal seconds (fractions allowed), capped at
/// [`MAX_RETRY_AFTER`]. HTTP dates are not accepted (the collector sends seconds).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(
        secs.min(MAX_RETRY_AFTER.as_secs_f64()),
    ))
}

/// The `RetryInfo.retry_delay` in a gRPC `grpc-status-details-bin` (a `google.rpc.Status`).
pub fn retry_info(details: &[u8]) -> Option<Duration> {
    use prost::Message;
    let status = RpcStatus::decode(details).ok()?;
    let info = status
        .details
        .iter()
        .find(|a| a.type_url.ends_with("google.rpc.RetryInfo"))?;
    let delay = RetryInfo::decode(&info.value[..]).ok()?.retry_delay?;
    let secs = u64::try_from(delay.seconds).ok()?;
    let nanos = u32::try_from(delay.nanos).ok()?;
    Some(Duration::new(secs, nanos.min(999_999_999)).min(MAX_RETRY_AFTER))
}

/// `google.rpc.Status`, the fields needed here.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<Any>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
struct Any {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
struct ProtoDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

/// Exponential backoff with full jitter: before attempt `n` (from 1 after the first failure),
/// wait a uniformly random time in `[0, min(max, initial * 2^(n-1))]`.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    /// A backoff starting at `initial`, capped at `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            failures: 0,
        }
    }

    /// The upper bound of the next wait.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32 << self.failures.min(30);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// Records a failure and returns how long to wait: the jittered backoff, or the
    /// collector's `retry_after` when that is longer.
    pub fn next_delay(&mut self, retry_after: Option<Duration>) -> Duration {
        let ceiling = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        let jittered = ceiling.mul_f64(rand::random::<f64>());
        jittered.max(retry_after.unwrap_or_default())
    }

    /// Starts over after a success.
    #[cfg(test)]
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn backoff_stays_within_its_doubling_ceiling_and_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let ceilings: Vec<u64> = (0..8)
            .map(|_| {
                let c = b.ceiling();
                for _ in 0..50 {
                    let mut probe = b.clone();
                    assert!(probe.next_delay(None) <= c);
                }
                b.next_delay(None);
                c.as_millis() as u64
            })
            .collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(100));
    }

    #[test]
    fn backoff_jitter_spreads_over_the_whole_range() {
        let b = Backoff::new(Duration::from_secs(10), Duration::from_secs(10));
        let delays: Vec<Duration> = (0..200).map(|_| b.clone().next_delay(None)).collect();
        assert!(delays.iter().any(|d| *d < Duration::from_secs(2)));
        assert!(delays.iter().any(|d| *d > Duration::from_secs(8)));
    }

    #[test]
    fn retry_after_wins_when_longer() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_millis(10));
        assert_eq!(
            b.next_delay(Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn retry_after_values() {
        for (value, want) in [
            ("3", Some(Duration::from_secs(3))),
            (" 0 ", Some(Duration::ZERO)),
            ("1.5", Some(Duration::from_millis(1500))),
            ("86400", Some(MAX_RETRY_AFTER)),
            ("-1", None),
            ("soon", None),
            ("Wed, 21 Oct 2015 07:28:00 GMT", None),
            ("NaN", None),
            ("", None),
        ] {
            assert_eq!(parse_retry_after(value), want, "{value:?}");
        }
    }

    #[test]
    fn retry_info_is_read_from_status_details() {
        use prost::Message;
        let info = RetryInfo {
            retry_delay: Some(ProtoDuration {
                seconds: 2,
                nanos: 500_000_000,
            }),
        };
        let status = RpcStatus {
            code: 8,
            message: "slow down".into(),
            details: vec![Any {
                type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
                value: info.encode_to_vec(),
            }],
        };
        assert_eq!(
            retry_info(&status.encode_to_vec()),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(retry_info(b"\xff\xff garbage"), None);
        assert_eq!(retry_info(&[]), None);
    }

    #[test]
    fn every_grpc_code_is_classified() {
        let hint = Some(Duration::from_secs(1));
        for code in (0..=16).map(Code::from_i32) {
            let got = classify_grpc(code, None).label();
            let want = match code {
                Code::InvalidArgument | Code::ResourceExhausted => "rejected",
                Code::Unauthenticated | Code::PermissionDenied => "unauthenticated",
                _ => "retryable",
            };
            assert_eq!(got, want, "{code:?}");
        }
        assert_eq!(
            classify_grpc(Code::ResourceExhausted, hint),
            Failure::Retryable {
                what: "gRPC ResourceExhausted".into(),
                retry_after: hint
            }
        );
        assert_eq!(classify_grpc(Code::Unavailable, hint).retry_after(), hint);
    }

    #[test]
    fn every_http_status_is_classified() {
        for status in 300..600u16 {
            let got = classify_http(status, None).label();
            let want = match status {
                400 | 413 => "rejected",
                401 | 403 => "unauthenticated",
                _ => "retryable",
            };
            assert_eq!(got, want, "{status}");
        }
        let hint = Some(Duration::from_secs(7));
        assert_eq!(classify_http(429, hint).retry_after(), hint);
        assert_eq!(classify_http(503, hint).retry_after(), hint);
    }
}
