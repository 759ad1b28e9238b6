//! A circuit breaker per collector endpoint: closed → open after `failures` consecutive
//! failures → after `cooldown`, half-open: one probe request; its success closes the breaker,
//! its failure opens it for another cooldown. While open, the endpoint is skipped.
//!
//! Failures are answers that say nothing of when to come back: unreachable, timed out, an
//! unexpected status, refused credentials. A refusal with `retry-after` is an endpoint that is
//! up and pacing its clients: the backoff honours it and the breaker does not count it.

use std::time::{Duration, Instant};

/// The breaker's state, also exported as a gauge (0 closed, 1 half-open, 2 open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Requests go through.
    Closed,
    /// One probe request is under way; another is let through after `until` (in case the
    /// probe never reported back).
    HalfOpen {
        /// When a new probe may go.
        until: Instant,
    },
    /// Requests are skipped until `until`.
    Open {
        /// End of the cooldown.
        until: Instant,
    },
}

impl State {
    /// The state's name in `/v1/status`: `closed`, `half_open`, `open`.
    pub fn label(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::HalfOpen { .. } => "half_open",
            State::Open { .. } => "open",
        }
    }

    /// Gauge value: 0 closed, 1 half-open, 2 open.
    pub fn gauge(self) -> f64 {
        match self {
            State::Closed => 0.0,
            State::HalfOpen { .. } => 1.0,
            State::Open { .. } => 2.0,
        }
    }
}

/// One endpoint's breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    state: State,
    consecutive: u32,
    threshold: u32,
    cooldown: Duration,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Breaker {
            state: State::Closed,
            consecutive: 0,
            threshold: threshold.max(1),
            cooldown,
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether a request may go to this endpoint now; an open breaker whose cooldown is over
    /// lets exactly one probe through (and becomes half-open).
    pub fn allow(&mut self, now: Instant) -> bool {
        match self.state {
            State::Closed => true,
            State::HalfOpen { until } | State::Open { until } if now >= until => {
                self.state = State::HalfOpen {
                    until: now + self.cooldown,
                };
                true
            }
            State::HalfOpen { .. } | State::Open { .. } => false,
        }
    }

    /// The request succeeded (or the endpoint answered in a way that proves it healthy).
    pub fn success(&mut self) {
        self.state = State::Closed;
        self.consecutive = 0;
    }

    /// The request failed. Returns true when this opened the breaker.
    pub fn failure(&mut self, now: Instant) -> bool {
        self.consecutive = self.consecutive.saturating_add(1);
        let open =
            matches!(self.state, State::HalfOpen { .. }) || self.consecutive >= self.threshold;
        let was_open = matches!(self.state, State::Open { .. });
        if open {
            self.state = State::Open {
                until: now + self.cooldown,
            };
        }
        open && !was_open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions() {
        let t0 = Instant::now();
        let cool = Duration::from_secs(10);
        let mut b = Breaker::new(3, cool);
        assert!(b.allow(t0));
        assert!(!b.failure(t0));
        b.success();
        assert!(
            !b.failure(t0) && !b.failure(t0),
            "the success reset the count"
        );
        assert!(b.failure(t0), "third consecutive failure opens");
        assert_eq!(b.state(), State::Open { until: t0 + cool });
        assert!(!b.allow(t0 + Duration::from_secs(9)));
        assert!(b.allow(t0 + cool), "one probe after the cooldown");
        assert_eq!(
            b.state(),
            State::HalfOpen {
                until: t0 + 2 * cool
            }
        );
        assert!(!b.allow(t0 + cool), "only one probe at a time");
        assert!(b.failure(t0 + cool), "a failed probe opens again");
        let t1 = t0 + cool;
        assert_eq!(b.state(), State::Open { until: t1 + cool });
        assert!(b.allow(t1 + cool));
        b.success();
        assert_eq!(b.state(), State::Closed);
        assert!(b.allow(t1 + cool));
        assert_eq!(
            [
                State::Closed,
                State::HalfOpen { until: t0 },
                State::Open { until: t0 }
            ]
            .map(State::gauge),
            [0.0, 1.0, 2.0]
        );
    }
}
