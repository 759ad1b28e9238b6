//! Streams: `XLEN`, `XINFO GROUPS` (pending, last-delivered-id, lag) and `XINFO CONSUMERS`
//! (pending, idle) for each stream key, in pipelines, plus an `XRANGE` count of the entries
//! after a group's position where Redis reports no lag.
//!
//! Redis 7.0 reports `lag` null once an entry after the group's position was deleted
//! (`XDEL`), or for a group whose position it cannot relate to `entries-added`; 6.x has no
//! `lag` at all. Then the agent pages through `XRANGE key (last-delivered-id + COUNT 1000`,
//! counting entries up to `lag_count_limit`: its cost is one call per thousand undelivered
//! entries, and only for those groups. When the group's position is nearer the stream's start
//! (by the time in the ids), it counts the entries up to the position instead and subtracts
//! them from `XLEN`.

use super::value::{array, fields, get, number, text};
use redis::Value;

/// One consumer group, as `XINFO GROUPS` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: String,
    pub pending: f64,
    pub last_delivered_id: String,
    /// Redis's lag, when it knows it.
    pub lag: Option<f64>,
}

/// One consumer of a group, as `XINFO CONSUMERS` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Consumer {
    pub name: String,
    pub pending: f64,
    /// Milliseconds since its last attempted interaction.
    pub idle_ms: f64,
}

/// The groups of an `XINFO GROUPS` reply; entries without a name are skipped.
pub fn parse_groups(v: &Value) -> Vec<Group> {
    array(v)
        .iter()
        .filter_map(|g| {
            let f = fields(g);
            Some(Group {
                name: get(&f, "name").and_then(text)?,
                pending: get(&f, "pending").and_then(number).unwrap_or(0.0),
                last_delivered_id: get(&f, "last-delivered-id")
                    .and_then(text)
                    .unwrap_or_else(|| "0-0".into()),
                lag: get(&f, "lag").and_then(number),
            })
        })
        .collect()
}

/// The consumers of an `XINFO CONSUMERS` reply.
pub fn parse_consumers(v: &Value) -> Vec<Consumer> {
    array(v)
        .iter()
        .filter_map(|c| {
            let f = fields(c);
            Some(Consumer {
                name: get(&f, "name").and_then(text)?,
                pending: get(&f, "pending").and_then(number).unwrap_or(0.0),
                idle_ms: get(&f, "idle").and_then(number).unwrap_or(0.0),
            })
        })
        .collect()
}

/// The number of entries in an `XRANGE` reply and the id of the last one.
pub fn range_page(v: &Value) -> (usize, Option<String>) {
    let items = array(v);
    let last = items.last().and_then(|e| array(e).first()).and_then(text);
    (items.len(), last)
}

/// The millisecond part of a stream id `ms-seq`.
fn millis(id: &str) -> Option<u64> {
    id.split('-').next()?.parse().ok()
}

/// Seconds from the time in stream id `id` to `now_ms` (0 when the id is in the future: a
/// producer's explicit ids or another clock).
pub fn age_seconds(id: &str, now_ms: f64) -> Option<f64> {
    let ms = millis(id)? as f64;
    Some(((now_ms - ms) / 1000.0).max(0.0))
}

/// Whether `id` lies nearer the `first` entry than the `last` by the time in the ids (an
/// estimate of which side of it holds fewer entries). Unknown or equal times: false.
pub fn nearer_start(first: &str, id: &str, last: &str) -> bool {
    match (millis(first), millis(id), millis(last)) {
        (Some(f), Some(i), Some(l)) if l > f => i.saturating_sub(f) < l.saturating_sub(i),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::BulkString(x.as_bytes().to_vec())
    }

    #[test]
    fn parses_captured_xinfo_replies() {
        // Redis 7.0.15 (RESP2) after XDEL of an entry past the group's position: lag is nil.
        let groups = Value::Array(vec![Value::Array(vec![
            s("name"),
            s("billing"),
            s("consumers"),
            Value::Int(1),
            s("pending"),
            Value::Int(3),
            s("last-delivered-id"),
            s("1733534400000-4"),
            s("entries-read"),
            Value::Int(5),
            s("lag"),
            Value::Nil,
        ])]);
        assert_eq!(
            parse_groups(&groups),
            vec![Group {
                name: "billing".into(),
                pending: 3.0,
                last_delivered_id: "1733534400000-4".into(),
                lag: None,
            }]
        );
        let consumers = Value::Array(vec![Value::Array(vec![
            s("name"),
            s("worker-1"),
            s("pending"),
            Value::Int(3),
            s("idle"),
            Value::Int(1500),
            s("inactive"),
            Value::Int(1500),
        ])]);
        assert_eq!(
            parse_consumers(&consumers),
            vec![Consumer {
                name: "worker-1".into(),
                pending: 3.0,
                idle_ms: 1500.0
            }]
        );
        let page = Value::Array(vec![
            Value::Array(vec![s("1-1"), Value::Array(vec![s("k"), s("v")])]),
            Value::Array(vec![s("1-2"), Value::Array(vec![s("k"), s("v")])]),
        ]);
        assert_eq!(range_page(&page), (2, Some("1-2".into())));
        assert!(parse_groups(&Value::Nil).is_empty());
    }

    #[test]
    fn which_side_of_a_position_to_count() {
        assert!(nearer_start("100-0", "120-3", "200-0"));
        assert!(!nearer_start("100-0", "180-0", "200-0"));
        assert!(
            !nearer_start("100-0", "100-5", "100-9"),
            "all in one millisecond"
        );
        assert!(!nearer_start("x", "1-1", "2-2"));
        assert_eq!(age_seconds("1733534400000-4", 1733534430500.0), Some(30.5));
        assert_eq!(age_seconds("1733534400000-0", 1733534300000.0), Some(0.0));
        assert_eq!(age_seconds("garbage", 1.0), None);
    }
}
