//! Recording one collection: group partitions first (lag is what the integration is for), then
//! topic partitions, each within the `max_series` budget, the rest summed into `_other`.

use super::metadata::Meta;
use super::offsets::Tp;
use super::{GroupData, Kafka, OTHER, first_unconsumed};
use dozor_metrics::catalogue::kafka as m;
use dozor_metrics::sample::Recorder;
use std::collections::{BTreeMap, HashMap};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

impl Kafka {
    pub(super) fn record(
        &mut self,
        rec: &mut Recorder,
        meta: &Meta,
        groups: &[GroupData],
        ends: &HashMap<Tp, i64>,
        oldest: &HashMap<Tp, i64>,
        stamps: &HashMap<(Tp, i64), i64>,
    ) {
        let inst = self.instance.clone();
        let inst = inst.as_str();
        let mut left = self.max_series;
        let mut folded = 0usize;
        let now = Instant::now();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        // Group partitions first: lag is what the integration is for.
        let (mut o_lag, mut o_age, mut o_missing) = (0.0, 0.0f64, 0.0);
        for g in groups {
            let name = g.group.name.as_str();
            rec.record(&m::GROUP_MEMBERS, g.group.members as f64, &[inst, name]);
            rec.record(&m::GROUP_STATE, 1.0, &[inst, name, &g.group.state]);
            rec.record(&m::ORPHAN_OFFSETS, g.orphans as f64, &[inst, name]);
            let mut by_topic: BTreeMap<&str, (f64, i64, bool)> = BTreeMap::new();
            for p in &g.partitions {
                let t = by_topic.entry(p.topic.as_str()).or_default();
                t.0 += p.lag.unwrap_or(0) as f64;
                t.1 += p.committed.unwrap_or(0);
                t.2 |= p.committed.is_some();
                let age = match (p.committed, p.lag) {
                    (Some(_), Some(0)) => Some(0.0),
                    (Some(c), Some(_)) => {
                        let tp = (p.topic.clone(), p.partition);
                        let at = first_unconsumed(c, oldest.get(&tp));
                        stamps.get(&(tp, at))
                    }
                    .map(|&ts| ((now_ms - ts).max(0) as f64) / 1000.0),
                    _ => None,
                };
                let missing = if p.committed.is_some() { 0.0 } else { 1.0 };
                if left == 0 {
                    folded += 1;
                    o_lag += p.lag.unwrap_or(0) as f64;
                    o_age = o_age.max(age.unwrap_or(0.0));
                    o_missing += missing;
                    continue;
                }
                left -= 1;
                let part = p.partition.to_string();
                let labels = [inst, name, p.topic.as_str(), part.as_str()];
                rec.record(&m::GROUP_OFFSET_MISSING, missing, &labels);
                if let Some(c) = p.committed {
                    rec.record(&m::GROUP_OFFSET, c as f64, &labels);
                }
                if let Some(lag) = p.lag {
                    rec.record(&m::GROUP_LAG, lag as f64, &labels);
                }
                if let Some(age) = age {
                    rec.record(&m::GROUP_LAG_AGE, age, &labels);
                }
            }
            for (topic, (lag, sum, any)) in by_topic {
                if any {
                    rec.record(&m::GROUP_LAG_SUM, lag, &[inst, name, topic]);
                }
                let assigned = self.assigned(&g.group, topic, sum, now);
                let v = if assigned { 1.0 } else { 0.0 };
                rec.record(&m::GROUP_TOPIC_ASSIGNED, v, &[inst, name, topic]);
            }
        }
        if folded > 0 {
            let labels = [inst, OTHER, OTHER, OTHER];
            rec.record(&m::GROUP_LAG, o_lag, &labels);
            rec.record(&m::GROUP_LAG_AGE, o_age, &labels);
            rec.record(&m::GROUP_OFFSET_MISSING, o_missing, &labels);
        }
        // Topic partitions.
        let mut other = [0.0f64; 4];
        let mut topic_folded = 0usize;
        for t in meta
            .topics
            .iter()
            .filter(|t| self.keep_topic(&t.name, t.internal))
        {
            let name = t.name.as_str();
            rec.record(
                &m::TOPIC_PARTITIONS,
                t.partitions.len() as f64,
                &[inst, name],
            );
            let under = t
                .partitions
                .iter()
                .filter(|p| p.in_sync < p.replicas)
                .count();
            rec.record(&m::UNDER_REPLICATED, under as f64, &[inst, name]);
            for p in &t.partitions {
                let tp = (t.name.clone(), p.index);
                let values = [
                    ends.get(&tp).map(|&v| v as f64),
                    oldest.get(&tp).map(|&v| v as f64),
                    Some(p.replicas as f64),
                    Some(p.in_sync as f64),
                ];
                if left == 0 {
                    topic_folded += 1;
                    for (o, v) in other.iter_mut().zip(values) {
                        *o += v.unwrap_or(0.0);
                    }
                    continue;
                }
                left -= 1;
                let part = p.index.to_string();
                let labels = [inst, name, part.as_str()];
                let metrics = [
                    &m::CURRENT_OFFSET,
                    &m::OLDEST_OFFSET,
                    &m::REPLICAS,
                    &m::REPLICAS_IN_SYNC,
                ];
                for (metric, v) in metrics.into_iter().zip(values) {
                    if let Some(v) = v {
                        rec.record(metric, v, &labels);
                    }
                }
            }
        }
        if topic_folded > 0 {
            let labels = [inst, OTHER, OTHER];
            let metrics = [
                &m::CURRENT_OFFSET,
                &m::OLDEST_OFFSET,
                &m::REPLICAS,
                &m::REPLICAS_IN_SYNC,
            ];
            for (metric, v) in metrics.into_iter().zip(other) {
                rec.record(metric, v, &labels);
            }
        }
        rec.record(&m::OVERFLOW, (folded + topic_folded) as f64, &[inst]);
    }

    pub(super) fn record_requests(&self, rec: &mut Recorder) {
        for (api, n) in &self.cluster.counts {
            rec.record(&m::REQUESTS, *n as f64, &[&self.instance, api]);
        }
    }
}
