//! Lag in seconds: the age of the first record a group has not consumed, read exactly by
//! fetching the record at the committed offset and reading its timestamp (no interpolation).
//!
//! Cost: one `Fetch` request per partition leader per round, holding every lagging partition
//! led by that broker; a partition where groups sit at different offsets takes one more round
//! per extra offset (at most [`MAX_ROUNDS`]). Each partition asks for [`PARTITION_BYTES`]; a
//! broker returns at least the whole record batch holding the offset (KIP-74), so a partition
//! costs about one batch of transfer and a little decoding.

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use std::collections::{BTreeMap, HashMap};

/// Fetch v4 is the lowest the codec writes and has what is needed (record batches v2); v13
/// replaces topic names by ids.
pub const VERSIONS: (i16, i16) = (4, 12);
/// Bytes asked per partition.
pub const PARTITION_BYTES: i32 = 4096;
/// Bytes asked per response.
pub const RESPONSE_BYTES: i32 = 1 << 20;
/// Rounds of Fetch per collection.
pub const MAX_ROUNDS: usize = 4;

/// A Fetch of one record at each `(topic, partition) -> offset`, returning at once.
pub fn request(wanted: &BTreeMap<(String, i32), i64>) -> FetchRequest {
    let mut topics: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
    for ((t, p), &offset) in wanted {
        topics.entry(t.as_str()).or_default().push(
            FetchPartition::default()
                .with_partition(*p)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(PARTITION_BYTES),
        );
    }
    FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(RESPONSE_BYTES)
        .with_topics(
            topics
                .into_iter()
                .map(|(t, ps)| {
                    FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(t.to_string())))
                        .with_partitions(ps)
                })
                .collect(),
        )
}

/// The timestamp (ms since the epoch) of the record at or after each asked offset, for the
/// partitions whose answer held it.
pub fn timestamps(
    resp: &FetchResponse,
    wanted: &BTreeMap<(String, i32), i64>,
) -> HashMap<(String, i32), i64> {
    let mut out = HashMap::new();
    for t in &resp.responses {
        for p in &t.partitions {
            let tp = (t.topic.0.as_str().to_string(), p.partition_index);
            let (Some(&offset), Some(records), 0) = (wanted.get(&tp), &p.records, p.error_code)
            else {
                continue;
            };
            if let Some(ts) = timestamp_at(records.clone(), offset) {
                out.insert(tp, ts);
            }
        }
    }
    out
}

/// The timestamp of the first record at or after `offset` in `records` (record batches, the
/// last possibly cut short by the size limit). A batch that does not decode (compressed with a
/// codec this build lacks: lz4, zstd) gives its first timestamp, which is the same or older.
pub fn timestamp_at(mut records: Bytes, offset: i64) -> Option<i64> {
    while !records.is_empty() {
        let before = records.clone();
        match RecordBatchDecoder::decode(&mut records) {
            Ok(set) => {
                if let Some(r) = set
                    .records
                    .iter()
                    .find(|r| r.offset >= offset && !r.control)
                {
                    return Some(r.timestamp);
                }
            }
            Err(_) => {
                let mut b = before;
                let info = RecordBatchDecoder::decode_batch_info(&mut b).ok()?;
                return info.first().map(|i| i.min_timestamp);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    fn record(offset: i64, timestamp: i64) -> Record {
        Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: -1,
            timestamp,
            key: None,
            value: Some(Bytes::from_static(b"v")),
            headers: Default::default(),
        }
    }

    fn batch(records: &[Record], compression: Compression) -> Bytes {
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression,
        };
        RecordBatchEncoder::encode(&mut buf, records.iter(), &options).unwrap();
        buf.freeze()
    }

    #[test]
    fn finds_the_record_at_the_offset_inside_a_batch() {
        let b = batch(
            &[record(10, 1000), record(11, 2000), record(12, 3000)],
            Compression::None,
        );
        assert_eq!(timestamp_at(b.clone(), 11), Some(2000));
        assert_eq!(timestamp_at(b.clone(), 10), Some(1000));
        // Compacted away: the next record is the first unconsumed one.
        assert_eq!(timestamp_at(b.clone(), 5), Some(1000));
        assert_eq!(timestamp_at(b, 13), None);
    }

    #[test]
    fn reads_gzip_batches_and_stops_at_a_cut_batch() {
        let mut all = BytesMut::new();
        all.extend_from_slice(&batch(&[record(0, 100), record(1, 200)], Compression::Gzip));
        let second = batch(&[record(2, 300)], Compression::None);
        all.extend_from_slice(&second[..second.len() - 3]);
        let all = all.freeze();
        assert_eq!(timestamp_at(all.clone(), 1), Some(200));
        // The cut batch was not received whole: nothing is read from it (the next Fetch,
        // starting at its offset, gets it whole).
        assert_eq!(timestamp_at(all, 2), None);
    }
}
