//! Committed offsets (`OffsetFetch` on each group's coordinator, all topics at once) and log
//! offsets (`ListOffsets` latest and earliest on each partition's leader, one request each per
//! leader), and the lag computed from them.
//!
//! Order matters: the committed offsets are read first, the log-end offsets after, so that a
//! consumer committing between the two reads makes the lag larger for one collection, never
//! negative.

use super::metadata::Meta;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    BrokerId, ListOffsetsRequest, ListOffsetsResponse, OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// OffsetFetch v2 is the first where a null topic list returns every committed offset of the
/// group and the response has a top-level error code; v8 batches groups with another layout.
pub const FETCH_VERSIONS: (i16, i16) = (2, 7);
/// ListOffsets v1 is the first with one offset per partition for a timestamp.
pub const LIST_VERSIONS: (i16, i16) = (1, 5);
/// ListOffsets timestamp for the log-end offset.
pub const LATEST: i64 = -1;
/// ListOffsets timestamp for the oldest offset.
pub const EARLIEST: i64 = -2;

/// A partition: topic name and index.
pub type Tp = (String, i32);

/// The committed offsets of an OffsetFetch response; -1 (none) is left out. An error code of
/// the response is returned as `Err`.
pub fn committed(resp: &OffsetFetchResponse) -> Result<BTreeMap<Tp, i64>, i16> {
    if resp.error_code != 0 {
        return Err(resp.error_code);
    }
    let mut out = BTreeMap::new();
    for t in &resp.topics {
        for p in &t.partitions {
            if p.error_code == 0 && p.committed_offset >= 0 {
                out.insert(
                    (t.name.0.as_str().to_string(), p.partition_index),
                    p.committed_offset,
                );
            }
        }
    }
    Ok(out)
}

/// A ListOffsets request for `partitions` at `timestamp`, as a consumer (replica -1).
pub fn list_request(partitions: &[&Tp], timestamp: i64) -> ListOffsetsRequest {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in partitions {
        topics.entry(t.as_str()).or_default().push(*p);
    }
    ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(
            topics
                .into_iter()
                .map(|(t, ps)| {
                    ListOffsetsTopic::default()
                        .with_name(TopicName(StrBytes::from_string(t.to_string())))
                        .with_partitions(
                            ps.into_iter()
                                .map(|p| {
                                    ListOffsetsPartition::default()
                                        .with_partition_index(p)
                                        .with_timestamp(timestamp)
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
}

/// The offsets of a ListOffsets response, and the partitions that answered with an error.
pub fn listed(resp: &ListOffsetsResponse) -> (HashMap<Tp, i64>, Vec<(Tp, i16)>) {
    let (mut ok, mut failed) = (HashMap::new(), Vec::new());
    for t in &resp.topics {
        for p in &t.partitions {
            let tp = (t.name.0.as_str().to_string(), p.partition_index);
            if p.error_code == 0 && p.offset >= 0 {
                ok.insert(tp, p.offset);
            } else {
                failed.push((tp, p.error_code));
            }
        }
    }
    (ok, failed)
}

/// One partition of one group.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupPartition {
    pub topic: String,
    pub partition: i32,
    /// `None`: the group has no committed offset here.
    pub committed: Option<i64>,
    /// `None` without a committed offset or a log-end offset.
    pub lag: Option<i64>,
}

/// The partitions of a group: every partition of every topic the group is assigned or has
/// committed on (and that `keep` accepts), with its lag. Committed offsets on topics or
/// partitions the metadata no longer has are counted in the second value.
pub fn group_partitions(
    meta: &Meta,
    assigned: &BTreeSet<String>,
    committed: &BTreeMap<Tp, i64>,
    ends: &HashMap<Tp, i64>,
    keep: impl Fn(&str) -> bool,
) -> (Vec<GroupPartition>, usize) {
    let mut topics: BTreeSet<&str> = assigned.iter().map(String::as_str).collect();
    topics.extend(committed.keys().map(|(t, _)| t.as_str()));
    let mut orphans = 0;
    let mut out = Vec::new();
    for name in topics {
        let Some(topic) = meta.topic(name) else {
            orphans += committed.keys().filter(|(t, _)| t == name).count();
            continue;
        };
        if !keep(name) {
            continue;
        }
        orphans += committed
            .keys()
            .filter(|(t, p)| t == name && !topic.partitions.iter().any(|x| x.index == *p))
            .count();
        for p in &topic.partitions {
            let tp = (name.to_string(), p.index);
            let c = committed.get(&tp).copied();
            let lag = c.zip(ends.get(&tp)).map(|(c, &end)| (end - c).max(0));
            out.push(GroupPartition {
                topic: tp.0,
                partition: p.index,
                committed: c,
                lag,
            });
        }
    }
    (out, orphans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::kafka::metadata::{Partition, Topic};

    fn meta() -> Meta {
        let part = |index| Partition {
            index,
            leader: 1,
            replicas: 1,
            in_sync: 1,
        };
        Meta {
            brokers: HashMap::new(),
            topics: vec![Topic {
                name: "t".into(),
                internal: false,
                partitions: vec![part(0), part(1), part(2)],
            }],
        }
    }

    #[test]
    fn lag_is_end_minus_committed_and_never_negative() {
        let committed = BTreeMap::from([(("t".into(), 0), 3), (("t".into(), 1), 9)]);
        // Partition 1's consumer committed past the end read before it: clamped to 0.
        let ends = HashMap::from([
            (("t".into(), 0), 10),
            (("t".into(), 1), 8),
            (("t".into(), 2), 5),
        ]);
        let (parts, orphans) =
            group_partitions(&meta(), &BTreeSet::new(), &committed, &ends, |_| true);
        assert_eq!(orphans, 0);
        let lags: Vec<_> = parts
            .iter()
            .map(|p| (p.partition, p.committed, p.lag))
            .collect();
        // Partition 2 has no committed offset: reported as such, with no lag.
        assert_eq!(
            lags,
            vec![
                (0, Some(3), Some(7)),
                (1, Some(9), Some(0)),
                (2, None, None)
            ]
        );
    }

    #[test]
    fn offsets_on_deleted_topics_are_orphans() {
        let committed = BTreeMap::from([(("gone".into(), 0), 3), (("t".into(), 7), 1)]);
        let (parts, orphans) = group_partitions(
            &meta(),
            &BTreeSet::new(),
            &committed,
            &HashMap::new(),
            |_| true,
        );
        assert_eq!(orphans, 2);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.committed.is_none()));
    }

    #[test]
    fn assigned_topics_without_commits_are_all_missing() {
        let assigned = BTreeSet::from(["t".to_string()]);
        let (parts, _) = group_partitions(
            &meta(),
            &assigned,
            &BTreeMap::new(),
            &HashMap::new(),
            |_| true,
        );
        assert_eq!(parts.len(), 3);
        let (none, _) = group_partitions(
            &meta(),
            &assigned,
            &BTreeMap::new(),
            &HashMap::new(),
            |_| false,
        );
        assert!(none.is_empty());
    }
}
