//! Per-agent rate limit (`limits.per_agent.points_per_second`): a token bucket per agent,
//! holding two seconds' worth of points.
//!
//! A request larger than the whole bucket would never fit, so a full bucket admits any request
//! and goes into debt: the agent still averages the configured rate.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Seconds of burst the bucket holds.
pub const BURST_SECONDS: f64 = 2.0;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Every agent's bucket.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Buckets refilling at `points_per_second`.
    pub fn new(points_per_second: u64) -> Self {
        RateLimiter {
            rate: points_per_second as f64,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `points` from `agent`'s bucket; when they are not there, the whole seconds after
    /// which they will be (at least 1).
    pub fn take(&self, agent: &str, points: u64) -> Result<(), u64> {
        self.take_at(agent, points, Instant::now())
    }

    fn take_at(&self, agent: &str, points: u64, now: Instant) -> Result<(), u64> {
        let burst = self.rate * BURST_SECONDS;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let b = buckets.entry(agent.to_string()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(burst);
        b.at = now;
        let points = points as f64;
        if b.tokens >= points.min(burst) {
            b.tokens -= points;
            return Ok(());
        }
        let wait = (points.min(burst) - b.tokens) / self.rate;
        Err((wait.ceil() as u64).max(1))
    }

    /// Forgets buckets of agents silent for `ttl` (a full bucket is what a new one starts as).
    pub fn expire(&self, ttl: Duration) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets.retain(|_, b| b.at.elapsed() < ttl);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let r = RateLimiter::new(100);
        let t0 = Instant::now();
        assert_eq!(r.take_at("a", 150, t0), Ok(()));
        assert_eq!(r.take_at("a", 50, t0), Ok(()));
        assert_eq!(r.take_at("a", 1, t0), Err(1));
        assert_eq!(r.take_at("b", 200, t0), Ok(()), "buckets are per agent");
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(r.take_at("a", 50, t1), Ok(()));
        assert_eq!(r.take_at("a", 150, t1), Err(2));
        // Bigger than the bucket: admitted when full, then the agent waits off its debt.
        let t2 = t1 + Duration::from_secs(10);
        assert_eq!(r.take_at("a", 1000, t2), Ok(()));
        assert_eq!(r.take_at("a", 1, t2), Err(9));
    }
}
