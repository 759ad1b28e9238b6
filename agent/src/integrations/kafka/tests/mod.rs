//! Tests against noida-db (a Kafka-protocol emulator, started per test by
//! `dozor_testkit::kafka`), with records produced and offsets committed by kafka-python: the
//! ground truth is what the test itself produced and committed.

mod cost;
mod errors;
mod lag;
mod security;

use super::{InstanceConfig, Kafka};
use crate::integrations::{Integration, IntegrationError};
use dozor_metrics::sample::{Recorder, Sample};
use std::time::Duration;

pub use crate::integrations::testing::value;

/// An instance named `name` on `bootstrap`.
pub fn instance(name: &str, bootstrap: &str) -> InstanceConfig {
    InstanceConfig {
        name: name.into(),
        bootstrap_servers: vec![bootstrap.into()],
        ..InstanceConfig::default()
    }
}

/// One collection: its samples and its result.
pub fn collect(k: &mut Kafka) -> (Vec<Sample>, Result<(), IntegrationError>) {
    let mut r = Recorder::new();
    let result = k.collect(&mut r);
    (r.take(), result)
}

/// The integration for `config` with a 5 s timeout.
pub fn integration(config: &InstanceConfig) -> Kafka {
    Kafka::new(config, Duration::from_secs(5))
}

/// Recording from literal metadata: under-replicated partitions and the overflow of group
/// partitions into `_other`, without a broker.
#[test]
fn records_under_replication_and_folds_group_partitions_past_the_budget() {
    use super::GroupData;
    use super::groups::Group;
    use super::metadata::{Meta, Partition, Topic};
    use super::offsets::GroupPartition;
    use std::collections::{BTreeSet, HashMap};
    let part = |index, replicas, in_sync| Partition {
        index,
        leader: 1,
        replicas,
        in_sync,
    };
    let meta = Meta {
        brokers: HashMap::from([(1, "b1:9092".to_string())]),
        topics: vec![Topic {
            name: "t".into(),
            internal: false,
            partitions: vec![part(0, 3, 3), part(1, 3, 2), part(2, 3, 1)],
        }],
    };
    let gp = |partition, committed: Option<i64>, lag: Option<i64>| GroupPartition {
        topic: "t".into(),
        partition,
        committed,
        lag,
    };
    let groups = vec![GroupData {
        group: Group {
            name: "g".into(),
            state: "Empty".into(),
            members: 0,
            consumer: true,
            assigned: BTreeSet::new(),
        },
        partitions: vec![
            gp(0, Some(1), Some(4)),
            gp(1, Some(2), Some(3)),
            gp(2, None, None),
        ],
        orphans: 0,
    }];
    let mut config = instance("k", "b1:9092");
    config.max_series = 1;
    let mut k = integration(&config);
    let mut r = Recorder::new();
    k.record(
        &mut r,
        &meta,
        &groups,
        &HashMap::new(),
        &HashMap::new(),
        &HashMap::new(),
    );
    let s = r.take();
    assert_eq!(
        value(
            &s,
            "dozor.kafka.topic.under_replicated_partitions",
            &["k", "t"]
        ),
        Some(2.0)
    );
    // One entity reported (g/t/0), two group partitions and three topic partitions folded.
    assert_eq!(
        value(&s, "kafka.consumer_group.lag", &["k", "g", "t", "0"]),
        Some(4.0)
    );
    assert_eq!(
        value(
            &s,
            "kafka.consumer_group.lag",
            &["k", "_other", "_other", "_other"]
        ),
        Some(3.0)
    );
    assert_eq!(
        value(
            &s,
            "dozor.kafka.consumer_group.offset.missing",
            &["k", "_other", "_other", "_other"]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&s, "dozor.kafka.overflow.entities", &["k"]),
        Some(5.0)
    );
    // The topic's lag sum counts every partition, folded or not.
    assert_eq!(
        value(&s, "kafka.consumer_group.lag_sum", &["k", "g", "t"]),
        Some(7.0)
    );
}

/// An Empty group is marked as having left a topic once its committed offsets there stood
/// still for `left_after`, and as consuming it again as soon as they move.
#[test]
fn an_empty_group_leaves_a_topic_after_left_after_without_commits() {
    use super::groups::Group;
    use std::collections::BTreeSet;
    use std::time::Instant;
    let mut config = instance("k", "b1:9092");
    config.left_after = dozor_config::Duration(Duration::from_secs(3600));
    let mut k = integration(&config);
    let group = Group {
        name: "g".into(),
        state: "Empty".into(),
        members: 0,
        consumer: false,
        assigned: BTreeSet::new(),
    };
    let t0 = Instant::now();
    let later = |s| t0 + Duration::from_secs(s);
    assert!(k.assigned(&group, "t", 10, t0));
    assert!(k.assigned(&group, "t", 10, later(3599)));
    assert!(!k.assigned(&group, "t", 10, later(3600)));
    // A commit moves the offsets: consumed again, and the clock restarts.
    assert!(k.assigned(&group, "t", 11, later(4000)));
    assert!(k.assigned(&group, "t", 11, later(7599)));
    assert!(!k.assigned(&group, "t", 11, later(7600)));
}
