//! Append + read + ack throughput of realistic records: one encoded 1,000-point OTLP request,
//! ~100 KiB raw protobuf or ~10 KiB gzip, under each sync policy.
//!
//! `cargo bench -p dozor-buffer --bench throughput` (under a minute). Criterion reports
//! records/s (`elem/s`); every record is 1,000 data points, so points/s = 1,000 × that.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dozor_buffer::{Buffer, Full, Options, SyncPolicy};
use std::time::Duration;

/// Data points per record (the weight stored with it).
const POINTS: u32 = 1_000;

/// Pseudo-random bytes (xorshift), so that nothing downstream can compress them away.
fn payload(len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("append_read_ack");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));
    for (size, len) in [("gzip_10KiB", 10 << 10), ("raw_100KiB", 100 << 10)] {
        let record = payload(len);
        for (policy, sync) in [
            ("never", SyncPolicy::Never),
            ("interval_1s", SyncPolicy::Interval(Duration::from_secs(1))),
            ("always", SyncPolicy::Always),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let options = Options {
                sync,
                full: Full::DropOldest,
                ..Options::default()
            };
            let mut buffer = Buffer::open(dir.path(), options).unwrap();
            group.bench_function(BenchmarkId::new(size, policy), |b| {
                b.iter(|| {
                    let seq = buffer.append(&record, POINTS).unwrap().seq;
                    let read = buffer.read_next().unwrap().unwrap();
                    assert_eq!(read.seq, seq);
                    buffer.ack(seq).unwrap();
                });
            });
        }
    }
    group.finish();
}

/// The latency the buffer adds before a batch can be sent: append, then read back. The ack
/// comes after the collector's answer and is off that path.
fn latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("append_read");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));
    let record = payload(100 << 10);
    for (policy, sync) in [
        ("never", SyncPolicy::Never),
        ("interval_1s", SyncPolicy::Interval(Duration::from_secs(1))),
        ("always", SyncPolicy::Always),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let options = Options {
            sync,
            full: Full::DropOldest,
            max_bytes: 64 << 20,
            ..Options::default()
        };
        let mut buffer = Buffer::open(dir.path(), options).unwrap();
        group.bench_function(BenchmarkId::new("raw_100KiB", policy), |b| {
            b.iter(|| {
                let seq = buffer.append(&record, POINTS).unwrap().seq;
                let read = buffer.read_next().unwrap().unwrap();
                assert_eq!(read.seq, seq);
            });
        });
    }
    group.finish();
}

criterion_group!(benches, throughput, latency);
criterion_main!(benches);
