//! Property test: random appends, acks, reads, reopens and crashes (the tail of the last
//! segment cut at a random offset) against a simple in-memory model of the buffer, including
//! the weight ledger: appended weight == acknowledged + dropped (as reported by the buffer)
//! + cut by a crash (as the model knows) + still delivered at the end.

use std::collections::VecDeque;
use std::fs::{self, OpenOptions};
use std::path::Path;

use dozor_buffer::{Buffer, Error, Full, Options, Record, SyncPolicy};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Payload length and weight.
    Append(usize, u32),
    /// Acknowledge the record at this index of the live records (modulo; one past the end
    /// acknowledges everything).
    Ack(usize),
    ReadSome(usize),
    Rewind,
    Reopen,
    /// Kill the process and cut the last segment at this fraction (per mille) of its length.
    Crash(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..80, 0u32..5000).prop_map(|(len, w)| Op::Append(len, w)),
        2 => any::<usize>().prop_map(Op::Ack),
        2 => (1usize..6).prop_map(Op::ReadSome),
        1 => Just(Op::Rewind),
        1 => Just(Op::Reopen),
        1 => (0u16..=1000).prop_map(Op::Crash),
    ]
}

/// What the buffer should contain.
#[derive(Debug, Default)]
struct Model {
    /// Appended, not acknowledged, not dropped, not lost in a crash: in order.
    live: VecDeque<Record>,
    /// Payload length of every sequence number handed out (indexed by seq).
    lens: Vec<usize>,
    next_seq: u64,
    /// First sequence number not acknowledged, as persisted.
    acked_next: u64,
    /// Next sequence number the reader may deliver.
    cursor: u64,
    /// Weight of every successful append.
    appended_weight: u64,
    /// Weight of records removed by acknowledgement.
    acked_weight: u64,
    /// Weight the buffer reported dropped (checked against the model at every append).
    dropped_weight: u64,
    /// Weight of acknowledged-by-append records cut off by a simulated crash.
    crash_weight: u64,
}

impl Model {
    fn expected_read(&self) -> Option<&Record> {
        self.live.iter().find(|r| r.seq >= self.cursor)
    }

    /// Applies a cut of the segment starting at `first` to `cut` bytes.
    fn crash(&mut self, first: u64, cut: u64) {
        let mut end = first;
        let mut offset = 0;
        while end < self.next_seq {
            offset += 12 + self.lens[end as usize] as u64;
            if offset > cut {
                break;
            }
            end += 1;
        }
        self.crash_weight += self
            .live
            .iter()
            .filter(|r| r.seq >= end)
            .map(|r| u64::from(r.weight))
            .sum::<u64>();
        self.live.retain(|r| r.seq < end);
        self.next_seq = end.max(self.acked_next);
        self.lens.truncate(self.next_seq as usize);
        self.cursor = 0;
    }
}

fn last_segment(dir: &Path) -> Option<(u64, std::path::PathBuf)> {
    fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            let name = path
                .file_name()?
                .to_str()?
                .strip_suffix(".wal")?
                .parse()
                .ok()?;
            Some((name, path))
        })
        .max()
}

fn run(options: Options, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let mut buffer = Buffer::open(dir.path(), options.clone()).unwrap();
    let mut model = Model::default();
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Append(len, weight) => {
                let payload: Vec<u8> = (0..len)
                    .map(|i| (i as u64 + model.next_seq) as u8)
                    .collect();
                match buffer.append(&payload, weight) {
                    Ok(appended) => {
                        prop_assert_eq!(appended.seq, model.next_seq, "step {}", step);
                        let lost: Vec<Record> = model
                            .live
                            .drain(..appended.dropped.records as usize)
                            .collect();
                        let lost_bytes: usize = lost.iter().map(|r| r.payload.len()).sum();
                        prop_assert_eq!(appended.dropped.bytes, lost_bytes as u64, "step {}", step);
                        let lost_weight: u64 = lost.iter().map(|r| u64::from(r.weight)).sum();
                        prop_assert_eq!(appended.dropped.weight, lost_weight, "step {}", step);
                        for r in &lost {
                            prop_assert!(
                                (appended.dropped.first_seq..appended.dropped.end_seq)
                                    .contains(&r.seq),
                                "step {}: {} outside the dropped range",
                                step,
                                r.seq
                            );
                        }
                        if let Some(first_kept) = model.live.front() {
                            prop_assert!(
                                first_kept.seq >= appended.dropped.end_seq,
                                "step {}",
                                step
                            );
                        }
                        model.dropped_weight += appended.dropped.weight;
                        model.appended_weight += u64::from(weight);
                        if let Some(last) = lost.last() {
                            model.acked_next = model.acked_next.max(last.seq + 1);
                        }
                        model.live.push_back(Record {
                            seq: appended.seq,
                            weight,
                            payload,
                        });
                        model.lens.push(len);
                        model.next_seq += 1;
                    }
                    Err(Error::Full { .. }) => prop_assert_eq!(options.full, Full::Reject),
                    Err(e) => return Err(TestCaseError::fail(format!("step {step}: {e}"))),
                }
            }
            Op::Ack(i) => {
                let up_to = match model.live.get(i % (model.live.len() + 1)) {
                    Some(r) => r.seq,
                    None => model.next_seq + 3,
                };
                buffer.ack(up_to).unwrap();
                model.acked_weight += model
                    .live
                    .iter()
                    .filter(|r| r.seq <= up_to)
                    .map(|r| u64::from(r.weight))
                    .sum::<u64>();
                model.live.retain(|r| r.seq > up_to);
                model.acked_next = model
                    .acked_next
                    .max(up_to.saturating_add(1).min(model.next_seq));
                model.cursor = model.cursor.max(model.acked_next);
            }
            Op::ReadSome(n) => {
                for _ in 0..n {
                    let got = buffer.read_next().unwrap();
                    prop_assert_eq!(got.as_ref(), model.expected_read(), "step {}", step);
                    if let Some(r) = got {
                        model.cursor = r.seq + 1;
                    }
                }
            }
            Op::Rewind => {
                buffer.rewind();
                model.cursor = 0;
            }
            Op::Reopen | Op::Crash(_) => {
                drop(buffer);
                if let (Op::Crash(per_mille), Some((first, path))) = (&op, last_segment(dir.path()))
                {
                    let len = fs::metadata(&path).unwrap().len();
                    let cut = len * u64::from(*per_mille) / 1000;
                    OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .unwrap()
                        .set_len(cut)
                        .unwrap();
                    model.crash(first, cut);
                }
                buffer = Buffer::open(dir.path(), options.clone()).unwrap();
                model.cursor = 0;
                prop_assert_eq!(buffer.recovery().corrupt_records, 0);
                prop_assert_eq!(buffer.recovery().cut_weight, 0);
                prop_assert_eq!(buffer.next_seq(), model.next_seq, "step {}", step);
                prop_assert!(
                    buffer.next_unacked() >= model.acked_next,
                    "acked records came back"
                );
            }
        }
        prop_assert!(buffer.used_bytes() <= options.max_bytes);
    }
    buffer.rewind();
    let all: Vec<Record> = std::iter::from_fn(|| buffer.read_next().unwrap()).collect();
    let delivered: u64 = all.iter().map(|r| u64::from(r.weight)).sum();
    prop_assert_eq!(all, Vec::from(model.live));
    prop_assert_eq!(
        model.appended_weight,
        model.acked_weight + model.dropped_weight + model.crash_weight + delivered,
        "weight ledger"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn buffer_matches_model(
        segment_bytes in 20u64..300,
        max_bytes in 100u64..1500,
        reject in any::<bool>(),
        ops in prop::collection::vec(op(), 1..80),
    ) {
        let options = Options {
            segment_bytes,
            max_bytes,
            full: if reject { Full::Reject } else { Full::DropOldest },
            sync: SyncPolicy::Never,
        };
        run(options, ops)?;
    }
}
