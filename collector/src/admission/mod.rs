//! Admission: whether a request may come in at all, decided the same way for both receivers.
//!
//! Before the body is read: shutting down (UNAVAILABLE / 503), the token
//! (UNAUTHENTICATED / 401), the memory limiter (UNAVAILABLE / 503). After decoding, when the
//! number of points is known: the agent's rate (RESOURCE_EXHAUSTED / 429). Retryable refusals
//! carry `retry-after` in seconds; `docs/adr/0005-delivery-protocol.md` lists what the agent does with each.

pub mod memory;
pub mod rate;
pub mod tokens;

use crate::telemetry::Refusal;
use memory::MemoryLimiter;
use rate::RateLimiter;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use tokens::{Tokens, TokensError};

/// Seconds a client is asked to wait after a memory or shutdown refusal.
pub const RETRY_AFTER_SECONDS: u64 = 1;
/// Seconds a client is asked to wait when the logs outbox is full: Elasticsearch is slow or
/// away, which rarely resolves within a second.
pub const OUTBOX_RETRY_AFTER_SECONDS: u64 = 5;

/// A refused request: why, what to tell the client, and when it may retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The counted reason.
    pub reason: Refusal,
    /// The message for the client and the (rate-limited) log line.
    pub message: String,
    /// Seconds after which a retry may succeed; `None` for a permanent refusal.
    pub retry_after: Option<u64>,
}

impl Refused {
    /// A refusal without retry information.
    pub fn new(reason: Refusal, message: impl Into<String>) -> Self {
        Refused {
            reason,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The gRPC status code.
    pub fn grpc_code(&self) -> tonic::Code {
        use tonic::Code;
        match self.reason {
            Refusal::Unauthenticated => Code::Unauthenticated,
            Refusal::RateLimited
            | Refusal::TooLarge
            | Refusal::TooManyPoints
            | Refusal::TooManyAttributes
            | Refusal::TooManyResources => Code::ResourceExhausted,
            Refusal::MemoryLimit
            | Refusal::MemoryReserved
            | Refusal::ShuttingDown
            | Refusal::OutboxFull
            | Refusal::LedgerUnwritable => Code::Unavailable,
            Refusal::NotFound
            | Refusal::MethodNotAllowed
            | Refusal::UnsupportedMediaType
            | Refusal::LogsDisabled => Code::Unimplemented,
            Refusal::DecodeError | Refusal::BadEncoding | Refusal::BadDeliveryHeader => {
                Code::InvalidArgument
            }
        }
    }

    /// The HTTP status.
    pub fn http_status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self.reason {
            Refusal::Unauthenticated => StatusCode::UNAUTHORIZED,
            Refusal::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Refusal::MemoryLimit
            | Refusal::MemoryReserved
            | Refusal::ShuttingDown
            | Refusal::OutboxFull
            | Refusal::LedgerUnwritable => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::TooLarge
            | Refusal::TooManyPoints
            | Refusal::TooManyAttributes
            | Refusal::TooManyResources => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::NotFound | Refusal::LogsDisabled => StatusCode::NOT_FOUND,
            Refusal::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Refusal::DecodeError | Refusal::BadEncoding | Refusal::BadDeliveryHeader => {
                StatusCode::BAD_REQUEST
            }
        }
    }
}

/// Seconds an agent waits before sending again a batch the ledger could not record.
pub const LEDGER_RETRY_AFTER_SECONDS: u64 = 5;

impl From<crate::delivery::Unrecorded> for Refused {
    fn from(e: crate::delivery::Unrecorded) -> Self {
        Refused {
            retry_after: Some(LEDGER_RETRY_AFTER_SECONDS),
            ..Refused::new(Refusal::LedgerUnwritable, e.to_string())
        }
    }
}

/// What was admitted: the agent the token names, if tokens are on, and where the request
/// came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Admitted {
    /// The agent name the token maps to.
    pub agent: Option<String>,
    /// The client's IP address, when the receiver knows it.
    pub peer: Option<std::net::IpAddr>,
}

/// The admission checks, shared by both receivers.
#[derive(Debug, Default)]
pub struct Gate {
    draining: AtomicBool,
    tokens_file: Option<PathBuf>,
    tokens: RwLock<Option<Arc<Tokens>>>,
    /// The memory limiter, when `limits.memory.limit` is set.
    pub memory: Option<MemoryLimiter>,
    rate: Option<RateLimiter>,
}

impl Gate {
    /// A gate with the configured checks.
    pub fn new(
        tokens_file: Option<PathBuf>,
        memory: Option<MemoryLimiter>,
        points_per_second: u64,
    ) -> Result<Self, TokensError> {
        let gate = Gate {
            draining: AtomicBool::new(false),
            tokens_file,
            tokens: RwLock::new(None),
            memory,
            rate: (points_per_second > 0).then(|| RateLimiter::new(points_per_second)),
        };
        gate.reload_tokens()?;
        Ok(gate)
    }

    /// Reads `auth.tokens_file` again. On error the tokens in use stay.
    pub fn reload_tokens(&self) -> Result<(), TokensError> {
        let Some(path) = &self.tokens_file else {
            return Ok(());
        };
        let tokens = Tokens::load(path)?;
        tracing::info!(file = %path.display(), agents = tokens.len(), "Agent tokens loaded.");
        *self.tokens.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(tokens));
        Ok(())
    }

    /// From now on every new request is refused with UNAVAILABLE / 503.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// The checks made on the headers alone, before the body is read.
    pub fn admit(&self, headers: &http::HeaderMap) -> Result<Admitted, Refused> {
        if self.draining.load(Ordering::SeqCst) {
            return Err(Refused {
                retry_after: Some(RETRY_AFTER_SECONDS),
                ..Refused::new(Refusal::ShuttingDown, "the collector is shutting down")
            });
        }
        let tokens = self
            .tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let agent = match tokens {
            None => None,
            Some(tokens) => {
                let auth = headers
                    .get(http::header::AUTHORIZATION)
                    .map(|v| v.as_bytes());
                match tokens.agent(auth) {
                    Some(agent) => Some(agent.to_string()),
                    None => {
                        let why = if auth.is_none() {
                            "authorization: Bearer <token> missing"
                        } else {
                            "unknown token"
                        };
                        return Err(Refused::new(Refusal::Unauthenticated, why));
                    }
                }
            }
        };
        if let Some((used, threshold)) = self.memory.as_ref().and_then(|m| m.over()) {
            return Err(Refused {
                retry_after: Some(RETRY_AFTER_SECONDS),
                ..Refused::new(
                    Refusal::MemoryLimit,
                    format!(
                        "memory in use {used} bytes reached {threshold} (limits.memory.limit - spike)"
                    ),
                )
            });
        }
        Ok(Admitted { agent, peer: None })
    }

    /// Charges `bytes`, what a request will cost once decoded, to the memory limiter for as
    /// long as the returned guard lives; refuses the request when the memory in use plus the
    /// requests in flight plus these bytes would reach the limiter's threshold.
    pub fn charge(
        &self,
        bytes: u64,
        admitted: &Admitted,
    ) -> Result<Option<memory::InFlight<'_>>, Refused> {
        let _ = admitted;
        let Some(memory) = &self.memory else {
            return Ok(None);
        };
        if let Some((used, threshold)) = memory.over_with(bytes) {
            return Err(Refused {
                retry_after: Some(RETRY_AFTER_SECONDS),
                ..Refused::new(
                    Refusal::MemoryLimit,
                    format!(
                        "memory in use {used} bytes with this request would reach {threshold} (limits.memory.limit - spike)"
                    ),
                )
            });
        }
        Ok(Some(memory.hold(bytes)))
    }

    /// Takes `points` (data points or log records) from `agent`'s rate budget.
    pub fn take_points(&self, agent: Option<&str>, points: u64) -> Result<(), Refused> {
        let (Some(rate), Some(agent)) = (&self.rate, agent) else {
            return Ok(());
        };
        rate.take(agent, points).map_err(|seconds| Refused {
            retry_after: Some(seconds),
            ..Refused::new(
                Refusal::RateLimited,
                format!("agent {agent} is over limits.per_agent.points_per_second"),
            )
        })
    }

    /// Forgets rate buckets of agents silent for `ttl`.
    pub fn expire(&self, ttl: std::time::Duration) {
        if let Some(rate) = &self.rate {
            rate.expire(ttl);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draining_refuses_with_retry_after() {
        let gate = Gate::new(None, None, 0).unwrap();
        assert_eq!(gate.admit(&http::HeaderMap::new()), Ok(Admitted::default()));
        gate.drain();
        let refused = gate.admit(&http::HeaderMap::new()).unwrap_err();
        assert_eq!(refused.reason, Refusal::ShuttingDown);
        assert_eq!(refused.retry_after, Some(RETRY_AFTER_SECONDS));
        assert_eq!(refused.grpc_code(), tonic::Code::Unavailable);
        assert_eq!(refused.http_status(), http::StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn statuses_follow_the_protocol() {
        let cases = [
            (Refusal::Unauthenticated, tonic::Code::Unauthenticated, 401),
            (Refusal::RateLimited, tonic::Code::ResourceExhausted, 429),
            (Refusal::MemoryLimit, tonic::Code::Unavailable, 503),
            (Refusal::TooLarge, tonic::Code::ResourceExhausted, 413),
            (
                Refusal::BadDeliveryHeader,
                tonic::Code::InvalidArgument,
                400,
            ),
            (Refusal::LogsDisabled, tonic::Code::Unimplemented, 404),
            (Refusal::OutboxFull, tonic::Code::Unavailable, 503),
        ];
        for (reason, code, status) in cases {
            let r = Refused::new(reason, "");
            assert_eq!((r.grpc_code(), r.http_status().as_u16()), (code, status));
        }
    }

    #[test]
    fn rate_applies_only_to_named_agents() {
        let gate = Gate::new(None, None, 1).unwrap();
        assert!(gate.take_points(Some("a"), 10).is_ok());
        let r = gate.take_points(Some("a"), 1).unwrap_err();
        assert_eq!(r.reason, Refusal::RateLimited);
        assert!(r.retry_after.unwrap() >= 1);
        assert!(gate.take_points(None, 1_000).is_ok());
    }
}
