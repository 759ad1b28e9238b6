//! The buffer on a file system that fills up (a small `tmpfs` of the test's own; root needed):
//! acknowledging needs no space, `DropOldest` makes room from its own oldest segments and counts
//! them, `Reject` refuses without writing. Regression: #18.

use dozor_buffer::{Buffer, Error, Full, Options, SyncPolicy};
use dozor_testkit::tmpfs::Tmpfs;

/// 4 KiB records, 16 KiB segments, a bound the disk reaches first.
fn options(full: Full) -> Options {
    Options {
        segment_bytes: 16 << 10,
        max_bytes: 4 << 20,
        full,
        sync: SyncPolicy::Interval(std::time::Duration::from_secs(1)),
    }
}

fn record(i: u64) -> Vec<u8> {
    let mut p = vec![(i % 251) as u8; 4000];
    p[..8].copy_from_slice(&i.to_le_bytes());
    p
}

/// Appends records 0.. until the buffer holds at least `segments` closed segments.
fn fill_buffer(buffer: &mut Buffer, records: u64) {
    for i in 0..records {
        buffer.append(&record(i), 10).unwrap();
    }
}

#[test]
fn acknowledging_needs_no_space() {
    let fs = Tmpfs::mount(256 << 10);
    let dir = fs.path().join("buf");
    let mut buffer = Buffer::open(&dir, options(Full::DropOldest)).unwrap();
    fill_buffer(&mut buffer, 20);
    fs.fill("filler");
    assert_eq!(fs.free(), 0);
    buffer.ack(15).expect("acknowledging on a full disk");
    assert!(
        fs.free() >= 3 * (16 << 10),
        "acknowledged segments freed: {}",
        fs.free()
    );
    // A new process, on a disk full again: it can acknowledge too.
    drop(buffer);
    fs.fill("filler2");
    let mut again = Buffer::open(&dir, options(Full::DropOldest)).unwrap();
    assert_eq!(again.next_unacked(), 16);
    again
        .ack(19)
        .expect("acknowledging after a restart on a full disk");
    assert_eq!(again.pending().records, 0);
}

#[test]
fn drop_oldest_makes_room_from_its_own_oldest_segments() {
    let fs = Tmpfs::mount(256 << 10);
    let mut buffer = Buffer::open(fs.path().join("buf"), options(Full::DropOldest)).unwrap();
    fill_buffer(&mut buffer, 20);
    fs.fill("filler");
    let appended = buffer
        .append(&record(20), 10)
        .expect("room made on a full disk");
    let d = appended.dropped;
    assert!(d.records >= 4, "{d:?}");
    assert_eq!((d.first_seq, d.weight), (0, 10 * d.records), "{d:?}");
    assert_eq!(buffer.next_unacked(), d.end_seq);
    // What is left reads back whole and in order, the new record last.
    let seqs: Vec<u64> = std::iter::from_fn(|| buffer.read_next().unwrap())
        .map(|r| r.seq)
        .collect();
    assert_eq!(seqs, (d.end_seq..=20).collect::<Vec<_>>());
}

#[test]
fn reject_refuses_on_a_full_disk_and_takes_again_once_space_is_back() {
    let fs = Tmpfs::mount(256 << 10);
    let mut buffer = Buffer::open(fs.path().join("buf"), options(Full::Reject)).unwrap();
    fill_buffer(&mut buffer, 8);
    let filler = fs.fill("filler");
    let before = buffer.used_bytes();
    match buffer.append(&record(8), 10) {
        Err(Error::NoSpace { dropped, .. }) => assert_eq!(dropped.records, 0),
        other => panic!("expected NoSpace, got {other:?}"),
    }
    assert_eq!(buffer.used_bytes(), before, "nothing written");
    std::fs::remove_file(filler).unwrap();
    assert_eq!(buffer.append(&record(8), 10).unwrap().seq, 8);
    let seqs: Vec<u64> = std::iter::from_fn(|| buffer.read_next().unwrap())
        .map(|r| r.seq)
        .collect();
    assert_eq!(seqs, (0..=8).collect::<Vec<_>>());
}
