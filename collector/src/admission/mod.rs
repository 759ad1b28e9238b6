//! Admission: whether a request may come in at all, decided the same way for both receivers.
//!
//! Before the body is read: shutting down (UNAVAILABLE / 503), the token
//! (UNAUTHENTICATED / 401), the memory limiter (UNAVAILABLE / 503). After decoding, when the
//! number of points is known: the agent's rate (RESOURCE_EXHAUSTED / 429). Retryable refusals
//! carry `retry-after` in seconds; `docs/adr/0005-delivery-protocol.md` lists what the agent does with each.

pub mod memory;
pub mod rate;
pub mod senders;
pub mod tally;
pub mod tokens;

use crate::telemetry::Refusal;
use memory::MemoryLimiter;
use rate::RateLimiter;
use senders::{Sender, Standing};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use tokens::{Scope, Tokens, TokensError};

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

/// What was admitted: the agent the token names, if tokens are on, what the request claims to
/// be, and where it came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Admitted {
    /// The agent name the token maps to.
    pub agent: Option<String>,
    /// The identities the token may speak for.
    pub scope: Option<Arc<Scope>>,
    /// A valid `dozor-agent` header, when there is no token.
    pub claimed: Option<String>,
    /// The client's IP address, when the receiver knows it.
    pub peer: Option<std::net::IpAddr>,
}

impl Admitted {
    /// The sender as known before the body is read: the token's agent, else the
    /// `dozor-agent` header, else the address.
    pub fn sender(&self) -> Sender {
        Sender::of(self.agent.as_deref().or(self.claimed.as_deref()), self.peer)
    }
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
    unidentified_rate: Option<RateLimiter>,
    /// Which senders are in good standing.
    pub standing: Standing,
    /// What each sender got past admission and was refused (the admin endpoint's view).
    pub tally: tally::Tally,
}

impl Gate {
    /// A gate with the configured checks: `points_per_second` for named senders and
    /// `unidentified_points_per_second` for the others (0: unlimited).
    pub fn new(
        tokens_file: Option<PathBuf>,
        memory: Option<MemoryLimiter>,
        points_per_second: u64,
        unidentified_points_per_second: u64,
    ) -> Result<Self, TokensError> {
        let rate = |pps: u64| (pps > 0).then(|| RateLimiter::new(pps));
        let gate = Gate {
            draining: AtomicBool::new(false),
            tokens_file,
            tokens: RwLock::new(None),
            memory,
            rate: rate(points_per_second),
            unidentified_rate: rate(unidentified_points_per_second),
            standing: Standing::default(),
            tally: tally::Tally::default(),
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

    /// The checks made on the headers alone, before the body is read. `peer` is the client's
    /// address, when the receiver knows it.
    pub fn admit(
        &self,
        headers: &http::HeaderMap,
        peer: Option<std::net::IpAddr>,
    ) -> Result<Admitted, Refused> {
        self.admit_headers(headers, peer).inspect_err(|r| {
            // Before the token is known the sender is what it claims, else its address.
            let claimed = headers
                .get("dozor-agent")
                .and_then(|v| v.to_str().ok())
                .filter(|a| crate::delivery::valid_agent(a));
            self.tally.refused(&Sender::of(claimed, peer), r.reason);
        })
    }

    fn admit_headers(
        &self,
        headers: &http::HeaderMap,
        peer: Option<std::net::IpAddr>,
    ) -> Result<Admitted, Refused> {
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
        let (agent, scope) = match tokens {
            None => (None, None),
            Some(tokens) => {
                let auth = headers
                    .get(http::header::AUTHORIZATION)
                    .map(|v| v.as_bytes());
                match tokens.find(auth) {
                    Some((agent, scope)) => (Some(agent.to_string()), Some(scope.clone())),
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
        let claimed = match agent {
            Some(_) => None,
            None => headers
                .get("dozor-agent")
                .and_then(|v| v.to_str().ok())
                .filter(|a| crate::delivery::valid_agent(a))
                .map(str::to_string),
        };
        let admitted = Admitted {
            agent,
            scope,
            claimed,
            peer,
        };
        self.charge_memory(0, &admitted)?;
        Ok(admitted)
    }

    /// Charges `bytes`, what a request will cost once decoded, to the memory limiter for as
    /// long as the returned guard lives; refuses the request when the memory in use plus the
    /// requests in flight plus these bytes would reach the limiter's threshold.
    pub fn charge(
        &self,
        bytes: u64,
        admitted: &Admitted,
    ) -> Result<Option<memory::InFlight<'_>>, Refused> {
        self.charge_memory(bytes, admitted)
            .inspect_err(|r| self.tally.refused(&admitted.sender(), r.reason))
    }

    fn charge_memory(
        &self,
        bytes: u64,
        admitted: &Admitted,
    ) -> Result<Option<memory::InFlight<'_>>, Refused> {
        let Some(memory) = &self.memory else {
            return Ok(None);
        };
        if bytes >= memory.threshold() {
            // It would not fit in an empty collector: waiting will not help.
            return Err(Refused::new(
                Refusal::TooLarge,
                format!(
                    "decoded, this request would take about {bytes} bytes, more than limits.memory.limit - spike ({}): send smaller requests",
                    memory.threshold()
                ),
            ));
        }
        let good = self.standing.good(&admitted.sender());
        if let Some(over) = memory.over_with(bytes, good) {
            let (reason, what) = if over.reserved {
                (
                    Refusal::MemoryReserved,
                    "limits.memory.limit - spike - reserved, the share kept for senders in good standing",
                )
            } else {
                (Refusal::MemoryLimit, "limits.memory.limit - spike")
            };
            let message = format!(
                "memory in use {} bytes with this request ({bytes} bytes decoded) would reach {} ({what})",
                over.used, over.threshold
            );
            return Err(Refused {
                retry_after: Some(RETRY_AFTER_SECONDS),
                ..Refused::new(reason, message)
            });
        }
        Ok((bytes > 0).then(|| memory.hold(bytes)))
    }

    /// Takes `points` (data points or log records) from `sender`'s rate budget
    /// (`limits.per_agent` or `limits.unidentified`); a sender over it loses its good standing.
    pub fn take_points(&self, sender: &Sender, points: u64) -> Result<(), Refused> {
        let taken = self.take_rate(sender, points);
        match &taken {
            Ok(()) => self.tally.admitted(sender, points),
            Err(r) => self.tally.refused(sender, r.reason),
        }
        taken
    }

    fn take_rate(&self, sender: &Sender, points: u64) -> Result<(), Refused> {
        let (rate, key) = if sender.is_named() {
            (&self.rate, "per_agent")
        } else {
            (&self.unidentified_rate, "unidentified")
        };
        let Some(rate) = rate else {
            return Ok(());
        };
        rate.take(&sender.key(), points).map_err(|seconds| {
            self.standing.over(sender);
            Refused {
                retry_after: Some(seconds),
                ..Refused::new(
                    Refusal::RateLimited,
                    format!(
                        "sender {} is over limits.{key}.points_per_second",
                        sender.key()
                    ),
                )
            }
        })
    }

    /// Forgets rate buckets and standing of senders silent for `ttl`.
    pub fn expire(&self, ttl: std::time::Duration) {
        for rate in [&self.rate, &self.unidentified_rate].into_iter().flatten() {
            rate.expire(ttl);
        }
        self.standing.expire(ttl);
        self.tally.expire(ttl);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draining_refuses_with_retry_after() {
        let gate = Gate::new(None, None, 0, 0).unwrap();
        assert_eq!(
            gate.admit(&http::HeaderMap::new(), None),
            Ok(Admitted::default())
        );
        gate.drain();
        let refused = gate.admit(&http::HeaderMap::new(), None).unwrap_err();
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
    fn only_senders_in_good_standing_use_the_reserved_share() {
        // Threshold 900, reserved 200: 600 resident is inside the reserved share.
        let memory = MemoryLimiter::with_source(1000, 100, 200, || Some(750));
        let gate = Gate::new(None, Some(memory), 0, 0).unwrap();
        let named = |n: &str| Admitted {
            claimed: Some(n.into()),
            ..Admitted::default()
        };
        let (old, new, flood) = (named("old"), named("new"), named("flood"));
        gate.standing.stored(&old.sender());
        gate.standing.stored(&flood.sender());
        gate.standing.over(&flood.sender());
        let held = gate.charge(100, &old).unwrap();
        assert!(
            held.is_some(),
            "a sender in good standing drains into the reserve"
        );
        for (who, what) in [(&new, "a new sender"), (&flood, "a sender over its budget")] {
            let r = gate.charge(1, who).unwrap_err();
            assert_eq!(r.reason, Refusal::MemoryReserved, "{what}");
            assert_eq!(r.retry_after, Some(RETRY_AFTER_SECONDS));
            assert_eq!(r.http_status(), http::StatusCode::SERVICE_UNAVAILABLE);
        }
        let r = gate.charge(100, &old).unwrap_err();
        assert_eq!(
            r.reason,
            Refusal::MemoryLimit,
            "the reserve ends at the threshold"
        );
        assert!(r.message.contains("limit - spike"), "{}", r.message);
        drop(held);
        assert_eq!(
            gate.charge(0, &new).unwrap_err().reason,
            Refusal::MemoryReserved
        );
        let r = gate.charge(900, &old).unwrap_err();
        assert_eq!(
            (r.reason, r.retry_after),
            (Refusal::TooLarge, None),
            "a request that would not fit in an empty collector is refused for good"
        );
        assert!(
            gate.admit(&http::HeaderMap::new(), None).is_err(),
            "refused before the body"
        );
    }

    #[test]
    fn every_sender_has_a_rate_named_or_not() {
        let gate = Gate::new(None, None, 1, 2).unwrap();
        let a = Sender::Agent("a".into());
        gate.standing.stored(&a);
        assert!(gate.take_points(&a, 10).is_ok());
        let r = gate.take_points(&a, 1).unwrap_err();
        assert_eq!(r.reason, Refusal::RateLimited);
        assert!(r.retry_after.unwrap() >= 1);
        assert!(
            !gate.standing.good(&a),
            "over the rate: out of good standing"
        );
        let ip = Sender::Address("192.0.2.1".parse().unwrap());
        assert!(gate.take_points(&ip, 10).is_ok());
        let r = gate.take_points(&ip, 1).unwrap_err();
        assert!(r.message.contains("limits.unidentified"), "{}", r.message);
        let other = Sender::Address("192.0.2.2".parse().unwrap());
        assert!(
            gate.take_points(&other, 1).is_ok(),
            "buckets are per address"
        );
        let open = Gate::new(None, None, 0, 0).unwrap();
        assert!(open.take_points(&a, 1_000_000).is_ok());
    }
}
