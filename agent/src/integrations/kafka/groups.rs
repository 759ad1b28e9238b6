//! Consumer groups: `ListGroups` on every broker (each lists the groups it coordinates), then
//! `DescribeGroups` on each coordinator, batched: state, members and the topics assigned to
//! them (decoded from the consumer protocol's member assignment).

use bytes::Buf;
use kafka_protocol::messages::{DescribeGroupsResponse, ListGroupsResponse};
use std::collections::BTreeSet;

/// ListGroups v0 lists every group with its protocol type; later versions add state filters.
pub const LIST_VERSIONS: (i16, i16) = (0, 4);
/// DescribeGroups v0 has state, protocol type and members with their assignments.
pub const DESCRIBE_VERSIONS: (i16, i16) = (0, 4);

/// One group as DescribeGroups says.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub name: String,
    /// `Stable`, `Empty`, `PreparingRebalance`, `CompletingRebalance`, `Dead`.
    pub state: String,
    pub members: usize,
    /// Whether it uses the consumer protocol, whose assignments name topics.
    pub consumer: bool,
    /// Topics assigned to at least one member (consumer protocol groups only).
    pub assigned: BTreeSet<String>,
}

/// The group names of a ListGroups response; an error code is returned as `Err`.
pub fn listed(resp: &ListGroupsResponse) -> Result<Vec<String>, i16> {
    if resp.error_code != 0 {
        return Err(resp.error_code);
    }
    Ok(resp
        .groups
        .iter()
        .map(|g| g.group_id.0.as_str().to_string())
        .collect())
}

/// The groups of a DescribeGroups response, with the error code of each that failed.
pub fn described(resp: &DescribeGroupsResponse) -> Vec<Result<Group, (String, i16)>> {
    resp.groups
        .iter()
        .map(|g| {
            let name = g.group_id.0.as_str().to_string();
            if g.error_code != 0 {
                return Err((name, g.error_code));
            }
            let consumer = g.protocol_type.as_str() == "consumer";
            let assigned = g
                .members
                .iter()
                .filter(|_| consumer)
                .flat_map(|m| assignment_topics(&m.member_assignment).unwrap_or_default())
                .collect();
            Ok(Group {
                name,
                state: g.group_state.as_str().to_string(),
                members: g.members.len(),
                consumer,
                assigned,
            })
        })
        .collect()
}

/// The topics of a consumer protocol `ConsumerProtocolAssignment` (versions 0 to 3 share this
/// layout): `i16` version, then an array of (topic string, array of `i32` partitions). `None`
/// when it does not decode.
pub fn assignment_topics(mut b: &[u8]) -> Option<Vec<String>> {
    if b.is_empty() {
        return Some(Vec::new());
    }
    let need = |b: &[u8], n: usize| (b.remaining() >= n).then_some(());
    need(b, 2 + 4)?;
    let _version = b.get_i16();
    let topics = b.get_i32();
    let mut out = Vec::new();
    for _ in 0..topics.max(0) {
        need(b, 2)?;
        let len = usize::try_from(b.get_i16()).ok()?;
        need(b, len)?;
        out.push(std::str::from_utf8(&b[..len]).ok()?.to_string());
        b.advance(len);
        need(b, 4)?;
        let partitions = usize::try_from(b.get_i32()).unwrap_or(0);
        need(b, partitions * 4)?;
        b.advance(partitions * 4);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_consumer_assignment() {
        // Written out by hand in the layout of Kafka's ConsumerProtocolAssignment: version 0, topic "t3" partitions
        // 0, 1, 2, then empty user data.
        let bytes: &[u8] = &[
            0, 0, 0, 0, 0, 1, 0, 2, b't', b'3', 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0,
            0, 0, 0,
        ];
        assert_eq!(assignment_topics(bytes), Some(vec!["t3".to_string()]));
        assert_eq!(assignment_topics(&[]), Some(vec![]));
        assert_eq!(assignment_topics(&bytes[..9]), None);
    }
}
