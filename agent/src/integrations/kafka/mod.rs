//! The `kafka` integration: consumer-group lag in records and in seconds, topics, partitions
//! and replicas of each configured Kafka cluster, read over the Kafka protocol.
//!
//! One integration runs per instance with a small blocking client of its own ([`client`], on
//! the `kafka-protocol` codec; why not rdkafka: docs/adr/0010-kafka-client.md). A collection
//! sends, in this order: `Metadata` to a bootstrap server ([`metadata`]); `ListGroups` to every
//! broker and `DescribeGroups` to each coordinator, batched ([`groups`]); `FindCoordinator`
//! once per group (cached); `OffsetFetch` per group on its coordinator, then `ListOffsets`
//! latest and earliest per leader ([`offsets`]: committed offsets first, so lag is never
//! negative); and, with `lag_seconds`, `Fetch` per leader for the record at each lagging
//! committed offset ([`fetch`]). Each step is a source in `dozor.agent.scrape.source.success`;
//! a failing group or broker does not stop the others.

pub mod client;
mod cluster;
pub mod config;
mod error;
mod fetch;
mod groups;
mod metadata;
mod offsets;
mod record;
mod sasl;
mod security;

#[cfg(test)]
mod tests;

pub use config::{Config, InstanceConfig};

use super::filter::Filter;
use super::{Integration, IntegrationError, Sources};
use cluster::{BOOTSTRAP, Cluster};
use dozor_metrics::catalogue::kafka as m;
use dozor_metrics::sample::Recorder;
use groups::Group;
use kafka_protocol::messages::{
    DescribeGroupsRequest, GroupId, ListGroupsRequest, OffsetFetchRequest,
};
use kafka_protocol::protocol::StrBytes;
use metadata::Meta;
use offsets::{GroupPartition, Tp};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// The label value of the overflow entity.
pub const OTHER: &str = "_other";

/// The integration for one cluster.
pub struct Kafka {
    /// `kafka/<instance>`.
    name: String,
    instance: String,
    cluster: Cluster,
    /// The deadline of every collection, from its start.
    budget: Duration,
    groups: Filter,
    topics: Filter,
    max_series: usize,
    lag_seconds: bool,
    left_after: Duration,
    /// Why the TLS or SASL settings cannot be used (validation refuses them first; never
    /// downgraded to PLAINTEXT).
    misconfigured: Option<String>,
    /// Per (group, topic) of an Empty group: the sum of its committed offsets and when it last
    /// changed.
    moved: HashMap<(String, String), (i64, Instant)>,
}

/// One group's view for recording.
struct GroupData {
    group: Group,
    partitions: Vec<GroupPartition>,
    orphans: usize,
}

impl Kafka {
    pub fn new(config: &InstanceConfig, timeout: Duration) -> Kafka {
        let security = config.security();
        Kafka {
            name: format!("kafka/{}", config.name),
            instance: config.name.clone(),
            cluster: Cluster::new(
                config.bootstrap_servers.clone(),
                config.client_id.clone(),
                security.clone().unwrap_or_default(),
            ),
            misconfigured: security.err(),
            budget: timeout.mul_f64(0.8),
            groups: Filter::new(&config.include_groups, &config.exclude_groups),
            topics: Filter::new(&config.include_topics, &config.exclude_topics),
            max_series: config.max_series,
            lag_seconds: config.lag_seconds,
            left_after: config.left_after.0,
            moved: HashMap::new(),
        }
    }

    /// Requests sent since start, by API (for tests and the benchmark).
    #[cfg(test)]
    pub fn requests(&self) -> &client::Counts {
        &self.cluster.counts
    }

    /// Internal topics (`__consumer_offsets`) only when `include_topics` names them.
    fn keep_topic(&self, name: &str, internal: bool) -> bool {
        (!internal || self.topics.has_include()) && self.topics.wants(name)
    }

    fn keep_group(&self, name: &str) -> bool {
        self.groups.wants(name)
    }

    /// ListGroups on every broker, DescribeGroups per coordinator, OffsetFetch per group.
    fn read_groups(
        &mut self,
        meta: &Meta,
        sources: &mut Sources,
    ) -> Vec<(Group, BTreeMap<Tp, i64>)> {
        let inst = self.instance.clone();
        let mut names = BTreeSet::new();
        let mut nodes: Vec<i32> = meta.brokers.keys().copied().collect();
        nodes.sort_unstable();
        let (lo, hi) = groups::LIST_VERSIONS;
        for node in nodes {
            let doing = format!("listing the groups of {}", self.cluster.addr(node));
            let listed = self
                .cluster
                .call(node, &ListGroupsRequest::default(), lo, hi)
                .map_err(|e| error::client(&inst, &doing, &e))
                .and_then(|r| groups::listed(&r).map_err(|c| error::broker(&inst, &doing, c)));
            if let Some(list) = sources.keep("ListGroups", listed) {
                names.extend(list.into_iter().filter(|g| self.keep_group(g)));
            }
        }
        // Coordinators, then one DescribeGroups per coordinator.
        let mut by_coordinator: BTreeMap<i32, Vec<String>> = BTreeMap::new();
        for g in names {
            let found = self.cluster.coordinator(&g);
            let found = found.map_err(|e| error::coordinator(&inst, &g, &e));
            if let Some(node) = sources.keep("FindCoordinator", found) {
                by_coordinator.entry(node).or_default().push(g);
            }
        }
        let mut out = Vec::new();
        let (lo, hi) = groups::DESCRIBE_VERSIONS;
        for (node, names) in by_coordinator {
            let req = DescribeGroupsRequest::default().with_groups(
                names
                    .iter()
                    .map(|g| GroupId(StrBytes::from_string(g.clone())))
                    .collect(),
            );
            let doing = format!("describing groups on {}", self.cluster.addr(node));
            let described = self.cluster.call(node, &req, lo, hi);
            let Some(resp) = sources.keep(
                "DescribeGroups",
                described.map_err(|e| error::client(&inst, &doing, &e)),
            ) else {
                continue;
            };
            for g in groups::described(&resp) {
                match g {
                    Ok(group) => {
                        if let Some(c) = self.committed(node, &group.name, sources) {
                            out.push((group, c));
                        }
                    }
                    Err((name, code)) => {
                        if matches!(code, 14..=16) {
                            self.cluster.forget_coordinator(&name);
                        }
                        let doing = format!("describing group {name}");
                        sources.note("DescribeGroups", Err(error::broker(&inst, &doing, code)));
                    }
                }
            }
        }
        out
    }

    /// The committed offsets of `group` from its coordinator `node`.
    fn committed(
        &mut self,
        node: i32,
        group: &str,
        sources: &mut Sources,
    ) -> Option<BTreeMap<Tp, i64>> {
        let req = OffsetFetchRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
            .with_topics(None);
        let (lo, hi) = offsets::FETCH_VERSIONS;
        let doing = format!("reading the committed offsets of group {group}");
        let inst = &self.instance;
        let result = match self.cluster.call(node, &req, lo, hi) {
            Ok(resp) => offsets::committed(&resp).map_err(|code| {
                if matches!(code, 14..=16) {
                    self.cluster.forget_coordinator(group);
                }
                error::broker(inst, &doing, code)
            }),
            Err(e) => Err(error::client(inst, &doing, &e)),
        };
        sources.keep("OffsetFetch", result)
    }

    /// ListOffsets at `timestamp` for `partitions`, one request per leader.
    fn list_offsets(
        &mut self,
        meta: &Meta,
        partitions: &[Tp],
        timestamp: i64,
        sources: &mut Sources,
    ) -> HashMap<Tp, i64> {
        let mut by_leader: BTreeMap<i32, Vec<&Tp>> = BTreeMap::new();
        for tp in partitions {
            let leader = meta
                .topic(&tp.0)
                .and_then(|t| t.partitions.iter().find(|p| p.index == tp.1))
                .map_or(-1, |p| p.leader);
            if leader >= 0 {
                by_leader.entry(leader).or_default().push(tp);
            }
        }
        let (lo, hi) = offsets::LIST_VERSIONS;
        let mut out = HashMap::new();
        for (leader, tps) in by_leader {
            let req = offsets::list_request(&tps, timestamp);
            let doing = format!("listing offsets on {}", self.cluster.addr(leader));
            let result = self.cluster.call(leader, &req, lo, hi);
            let result = result.map_err(|e| error::client(&self.instance, &doing, &e));
            if let Some(resp) = sources.keep("ListOffsets", result) {
                let (ok, failed) = offsets::listed(&resp);
                out.extend(ok);
                if let Some(((t, p), code)) = failed.first() {
                    let doing = format!("listing the offsets of {t} partition {p}");
                    let e = error::broker(&self.instance, &doing, *code);
                    sources.note("ListOffsets", Err(e));
                }
            }
        }
        out
    }

    /// The timestamp of the record at each lagging committed offset.
    fn lag_timestamps(
        &mut self,
        meta: &Meta,
        groups: &[GroupData],
        oldest: &HashMap<Tp, i64>,
        sources: &mut Sources,
    ) -> HashMap<(Tp, i64), i64> {
        let mut wanted: BTreeMap<Tp, BTreeSet<i64>> = BTreeMap::new();
        for g in groups {
            for p in &g.partitions {
                if let (Some(c), Some(lag)) = (p.committed, p.lag)
                    && lag > 0
                {
                    let tp = (p.topic.clone(), p.partition);
                    let at = first_unconsumed(c, oldest.get(&tp));
                    wanted.entry(tp).or_default().insert(at);
                }
            }
        }
        let leader = |tp: &Tp| {
            meta.topic(&tp.0)
                .and_then(|t| t.partitions.iter().find(|p| p.index == tp.1))
                .map_or(-1, |p| p.leader)
        };
        let (lo, hi) = fetch::VERSIONS;
        let mut out = HashMap::new();
        for round in 0..fetch::MAX_ROUNDS {
            let mut by_leader: BTreeMap<i32, BTreeMap<Tp, i64>> = BTreeMap::new();
            for (tp, offs) in &wanted {
                if let Some(&o) = offs.iter().nth(round)
                    && leader(tp) >= 0
                {
                    by_leader
                        .entry(leader(tp))
                        .or_default()
                        .insert(tp.clone(), o);
                }
            }
            if by_leader.is_empty() {
                break;
            }
            for (node, asked) in by_leader {
                let doing = format!(
                    "fetching the first unconsumed records on {}",
                    self.cluster.addr(node)
                );
                let result = self.cluster.call(node, &fetch::request(&asked), lo, hi);
                let result = result.map_err(|e| error::client(&self.instance, &doing, &e));
                if let Some(resp) = sources.keep("Fetch", result) {
                    for (tp, ts) in fetch::timestamps(&resp, &asked) {
                        let o = asked[&tp];
                        out.insert((tp, o), ts);
                    }
                }
            }
        }
        out
    }

    /// Whether `group` still consumes `topic` (see `dozor.kafka.consumer_group.topic.assigned`).
    fn assigned(&mut self, group: &Group, topic: &str, committed_sum: i64, now: Instant) -> bool {
        let key = (group.name.clone(), topic.to_string());
        if group.members > 0 {
            self.moved.remove(&key);
            return !group.consumer || group.assigned.contains(topic);
        }
        let entry = self.moved.entry(key).or_insert((committed_sum, now));
        if entry.0 != committed_sum {
            *entry = (committed_sum, now);
        }
        now.duration_since(entry.1) < self.left_after
    }
}

/// The offset of the first record a group at `committed` will read: the oldest one left when
/// retention deleted the records at its position.
fn first_unconsumed(committed: i64, oldest: Option<&i64>) -> i64 {
    committed.max(oldest.copied().unwrap_or(0))
}

impl Integration for Kafka {
    fn name(&self) -> &str {
        &self.name
    }

    fn collect(&mut self, rec: &mut Recorder) -> Result<(), IntegrationError> {
        if let Some(why) = &self.misconfigured {
            rec.record(&m::UP, 0.0, &[&self.instance]);
            return Err(IntegrationError::new(
                "config",
                format!("kafka instance {}: {why}", self.instance),
            ));
        }
        self.cluster.deadline = Instant::now() + self.budget;
        let mut sources = Sources::new(&self.name);
        let (lo, hi) = metadata::VERSIONS;
        let meta = match self.cluster.call(BOOTSTRAP, &metadata::request(), lo, hi) {
            Ok(resp) => metadata::parse(&resp),
            Err(e) => {
                rec.record(&m::UP, 0.0, &[&self.instance]);
                self.record_requests(rec);
                self.cluster.reset();
                return Err(error::client(
                    &self.instance,
                    "reading the cluster's metadata",
                    &e,
                ));
            }
        };
        sources.note("Metadata", Ok(()));
        self.cluster.brokers.extend(meta.brokers.clone());
        rec.record(&m::UP, 1.0, &[&self.instance]);
        rec.record(&m::BROKERS, meta.brokers.len() as f64, &[&self.instance]);

        // Committed offsets first, log-end offsets after: lag is never negative.
        let read = self.read_groups(&meta, &mut sources);
        let partitions: Vec<Tp> = meta
            .topics
            .iter()
            .filter(|t| self.keep_topic(&t.name, t.internal))
            .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), p.index)))
            .collect();
        let ends = self.list_offsets(&meta, &partitions, offsets::LATEST, &mut sources);
        let oldest = self.list_offsets(&meta, &partitions, offsets::EARLIEST, &mut sources);
        let groups: Vec<GroupData> = read
            .into_iter()
            .map(|(group, committed)| {
                let keep = |t: &str| {
                    let internal = meta.topic(t).is_some_and(|t| t.internal);
                    self.keep_topic(t, internal)
                };
                let (partitions, orphans) =
                    offsets::group_partitions(&meta, &group.assigned, &committed, &ends, keep);
                GroupData {
                    group,
                    partitions,
                    orphans,
                }
            })
            .collect();
        let stamps = if self.lag_seconds {
            self.lag_timestamps(&meta, &groups, &oldest, &mut sources)
        } else {
            HashMap::new()
        };
        self.record(rec, &meta, &groups, &ends, &oldest, &stamps);
        // Forget groups and topics no longer seen, so the state stays as large as the cluster.
        let seen: BTreeSet<(&str, &str)> = groups
            .iter()
            .flat_map(|g| {
                g.partitions
                    .iter()
                    .map(|p| (g.group.name.as_str(), p.topic.as_str()))
            })
            .collect();
        self.moved
            .retain(|(g, t), _| seen.contains(&(g.as_str(), t.as_str())));
        self.record_requests(rec);
        let result = sources.finish(rec);
        if result.as_ref().is_err_and(|e| e.kind == "timeout") {
            self.cluster.reset();
        }
        result
    }
}
