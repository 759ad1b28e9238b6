//! Brokers, topics, partitions, leaders and replicas: one `Metadata` request (v1+, all topics)
//! to a bootstrap server.

use kafka_protocol::messages::{MetadataRequest, MetadataResponse};
use std::collections::HashMap;

/// Lowest and highest Metadata versions used: v1 is the first where a null topic list means
/// all topics and internal topics are flagged; v9+ are flexible and add nothing needed here.
pub const VERSIONS: (i16, i16) = (1, 8);

/// One partition of a topic.
#[derive(Clone, Debug, PartialEq)]
pub struct Partition {
    pub index: i32,
    /// Node id of the leader, -1 when it has none.
    pub leader: i32,
    pub replicas: usize,
    pub in_sync: usize,
}

/// One topic.
#[derive(Clone, Debug, PartialEq)]
pub struct Topic {
    pub name: String,
    pub internal: bool,
    pub partitions: Vec<Partition>,
}

/// What Metadata says of the cluster.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Meta {
    /// `host:port` of each broker by node id.
    pub brokers: HashMap<i32, String>,
    /// Topics by name, in name order; partitions in index order.
    pub topics: Vec<Topic>,
}

impl Meta {
    /// The topic named `name`.
    pub fn topic(&self, name: &str) -> Option<&Topic> {
        self.topics
            .binary_search_by(|t| t.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.topics[i])
    }
}

/// All topics. (A null topic list never creates a topic, so `allow_auto_topic_creation`,
/// which the codec refuses to set below v4, keeps its default.)
pub fn request() -> MetadataRequest {
    MetadataRequest::default().with_topics(None)
}

/// The cluster as `resp` describes it. Topics with an error (being deleted, no leader yet)
/// keep the partitions the broker listed.
pub fn parse(resp: &MetadataResponse) -> Meta {
    let brokers = resp
        .brokers
        .iter()
        .map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port)))
        .collect();
    let mut topics: Vec<Topic> = resp
        .topics
        .iter()
        .filter_map(|t| {
            let name = t.name.as_ref()?.0.as_str().to_string();
            let mut partitions: Vec<Partition> = t
                .partitions
                .iter()
                .map(|p| Partition {
                    index: p.partition_index,
                    leader: p.leader_id.0,
                    replicas: p.replica_nodes.len(),
                    in_sync: p.isr_nodes.len(),
                })
                .collect();
            partitions.sort_by_key(|p| p.index);
            Some(Topic {
                name,
                internal: t.is_internal,
                partitions,
            })
        })
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    Meta { brokers, topics }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::messages::{BrokerId, TopicName};
    use kafka_protocol::protocol::StrBytes;

    fn partition(
        index: i32,
        leader: i32,
        replicas: &[i32],
        isr: &[i32],
    ) -> MetadataResponsePartition {
        let ids = |v: &[i32]| v.iter().map(|&i| BrokerId(i)).collect();
        MetadataResponsePartition::default()
            .with_partition_index(index)
            .with_leader_id(BrokerId(leader))
            .with_replica_nodes(ids(replicas))
            .with_isr_nodes(ids(isr))
    }

    #[test]
    fn reads_brokers_topics_and_replicas() {
        let resp = MetadataResponse::default()
            .with_brokers(vec![
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(2))
                    .with_host(StrBytes::from_static_str("b2"))
                    .with_port(9093),
            ])
            .with_topics(vec![
                MetadataResponseTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_static_str("orders"))))
                    .with_partitions(vec![
                        partition(1, 2, &[2, 3], &[2]),
                        partition(0, 3, &[2, 3], &[2, 3]),
                    ]),
                MetadataResponseTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_static_str(
                        "__consumer_offsets",
                    ))))
                    .with_is_internal(true),
            ]);
        let meta = parse(&resp);
        assert_eq!(meta.brokers[&2], "b2:9093");
        assert_eq!(meta.topics[0].name, "__consumer_offsets");
        assert!(meta.topics[0].internal);
        let orders = meta.topic("orders").unwrap();
        assert_eq!(
            orders.partitions,
            vec![
                Partition {
                    index: 0,
                    leader: 3,
                    replicas: 2,
                    in_sync: 2
                },
                Partition {
                    index: 1,
                    leader: 2,
                    replicas: 2,
                    in_sync: 1
                },
            ]
        );
    }
}
