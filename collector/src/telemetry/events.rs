//! Notable events, one type each: emitting one counts it and logs it (at most once per interval).
//!
//! Follows Vector's `internal_events`: the receivers, store and sweeper never touch a counter or
//! write a log line about these events by themselves.

use super::{CloseReason, DropReason, Receiver, Refusal, Telemetry};
use std::fmt::Display;
use std::sync::atomic::Ordering;
use tracing::{debug, error, warn};

/// A request was decoded and its points handed to the store.
#[derive(Debug)]
pub struct RequestAccepted {
    /// Which receiver.
    pub receiver: Receiver,
    /// Data points in the request (before any were dropped).
    pub points: u64,
}

impl RequestAccepted {
    /// Counts the request and its points. Never logged: one line per request would be noise.
    pub fn emit(self, t: &Telemetry) {
        let r = self.receiver as usize;
        t.accepted[r].fetch_add(1, Ordering::Relaxed);
        t.received_points[r].fetch_add(self.points, Ordering::Relaxed);
    }
}

/// A request was refused before any of its points were looked at.
pub struct RequestRefused<'a> {
    /// Which receiver.
    pub receiver: Receiver,
    /// Why.
    pub reason: Refusal,
    /// What went wrong, for the log line.
    pub error: &'a dyn Display,
}

impl RequestRefused<'_> {
    /// Counts the refusal; logs a warning at most once per interval per receiver and reason.
    /// WARN, not ERROR: the sender was told and still holds the data.
    pub fn emit(self, t: &Telemetry) {
        let (r, why) = (self.receiver as usize, self.reason as usize);
        t.refused[r][why].fetch_add(1, Ordering::Relaxed);
        if let Some(suppressed) = t.refused_log[r][why].ready() {
            // Debug-quoted: the message may carry what the client sent (a path, a header).
            let error = self.error.to_string();
            warn!(
                receiver = self.receiver.as_str(),
                reason = self.reason.as_str(),
                error = ?error,
                suppressed,
                "Request refused."
            );
        }
    }
}

/// Points of an accepted request were not stored.
#[derive(Debug)]
pub struct PointsDropped {
    /// Why.
    pub reason: DropReason,
    /// How many points.
    pub count: u64,
}

impl PointsDropped {
    /// Counts the points; logs an error at most once per interval per reason: data was lost.
    pub fn emit(self, t: &Telemetry) {
        if self.count == 0 {
            return;
        }
        t.dropped[self.reason as usize].fetch_add(self.count, Ordering::Relaxed);
        if let Some(suppressed) = t.dropped_log[self.reason as usize].ready() {
            if !self.reason.is_loss() {
                warn!(
                    reason = self.reason.as_str(),
                    count = self.count,
                    suppressed,
                    "Points not stored as sent."
                );
                return;
            }
            error!(
                reason = self.reason.as_str(),
                count = self.count,
                suppressed,
                "Points dropped."
            );
        }
    }
}

/// Series were removed from the store because nothing updated them within `series_ttl`.
#[derive(Debug)]
pub struct SeriesExpired {
    /// How many series.
    pub count: u64,
}

impl SeriesExpired {
    /// Counts the series. Expiry is routine (a pod went away), so only a debug line.
    pub fn emit(self, t: &Telemetry) {
        if self.count == 0 {
            return;
        }
        t.series_expired.fetch_add(self.count, Ordering::Relaxed);
        debug!(count = self.count, "Series expired.");
    }
}

/// Points of an accepted request were cut to a bound (`limits.point.on_over: truncate`) and
/// stored in that form.
#[derive(Debug)]
pub struct PointsTruncated {
    /// Which bound (one of [`DropReason::TRUNCATABLE`]).
    pub reason: DropReason,
    /// How many points.
    pub count: u64,
}

impl PointsTruncated {
    /// Counts the points; logs a warning at most once per interval per reason.
    pub fn emit(self, t: &Telemetry) {
        if self.count == 0 {
            return;
        }
        t.truncated[self.reason as usize].fetch_add(self.count, Ordering::Relaxed);
        if let Some(suppressed) = t.truncated_log[self.reason as usize].ready() {
            warn!(
                reason = self.reason.as_str(),
                count = self.count,
                suppressed,
                "Points truncated to a bound."
            );
        }
    }
}

/// A receiver closed a connection, at accept or because it was too slow.
#[derive(Debug)]
pub struct ConnectionClosed {
    /// Which receiver.
    pub receiver: Receiver,
    /// Why.
    pub reason: CloseReason,
    /// The peer, for the log line.
    pub peer: std::net::SocketAddr,
}

impl ConnectionClosed {
    /// Counts the close; logs a warning at most once per interval per receiver and reason.
    pub fn emit(self, t: &Telemetry) {
        let (r, why) = (self.receiver as usize, self.reason as usize);
        t.closed[r][why].fetch_add(1, Ordering::Relaxed);
        if let Some(suppressed) = t.closed_log[r][why].ready() {
            warn!(
                receiver = self.receiver.as_str(),
                reason = self.reason.as_str(),
                peer = %self.peer,
                suppressed,
                "Connection closed."
            );
        }
    }
}
