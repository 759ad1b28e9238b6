//! Behaviour of the public API on a real directory.

use std::fs;
use std::path::{Path, PathBuf};

use dozor_buffer::{Buffer, Dropped, Error, Full, Options, Record, SyncPolicy};

/// Frame size of a record with a 10-byte payload.
const FRAME: u64 = 22;

fn options(segment_records: u64, max_records: u64, full: Full) -> Options {
    Options {
        segment_bytes: segment_records * FRAME,
        max_bytes: max_records * FRAME,
        full,
        sync: SyncPolicy::Never,
    }
}

fn payload(i: u64) -> Vec<u8> {
    format!("record {i:03}").into_bytes()
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    files.sort();
    files
}

fn read_all(buffer: &mut Buffer) -> Vec<Record> {
    std::iter::from_fn(|| buffer.read_next().unwrap()).collect()
}

fn seqs(records: &[Record]) -> Vec<u64> {
    records.iter().map(|r| r.seq).collect()
}

#[test]
fn append_read_ack_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut buffer = Buffer::open(dir.path(), Options::default()).unwrap();
    for i in 0..3 {
        assert_eq!(buffer.append(&payload(i), i as u32).unwrap().seq, i);
    }
    let records = read_all(&mut buffer);
    assert_eq!(seqs(&records), [0, 1, 2]);
    assert!(records.iter().all(|r| r.payload == payload(r.seq)));
    buffer.ack(0).unwrap();
    assert_eq!(buffer.read_next().unwrap(), None);
    buffer.rewind();
    assert_eq!(seqs(&read_all(&mut buffer)), [1, 2]);
    buffer.append(&payload(3), 3).unwrap();
    assert_eq!(seqs(&read_all(&mut buffer)), [3]);
}

#[test]
fn ack_persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut buffer = Buffer::open(dir.path(), options(2, 100, Full::Reject)).unwrap();
    for i in 0..5 {
        buffer.append(&payload(i), i as u32).unwrap();
    }
    buffer.ack(2).unwrap();
    drop(buffer);
    let mut buffer = Buffer::open(dir.path(), options(2, 100, Full::Reject)).unwrap();
    assert_eq!((buffer.next_unacked(), buffer.next_seq()), (3, 5));
    assert_eq!(seqs(&read_all(&mut buffer)), [3, 4]);
    assert_eq!(buffer.append(b"x", 1).unwrap().seq, 5);
}

#[test]
fn sequence_continues_after_everything_was_acked_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let mut buffer = Buffer::open(dir.path(), Options::default()).unwrap();
    buffer.append(b"a", 1).unwrap();
    buffer.append(b"b", 1).unwrap();
    buffer.ack(1).unwrap();
    // The segment being appended to stays until it is full or the buffer is reopened.
    assert_eq!(segments(dir.path()).len(), 1);
    drop(buffer);
    let mut buffer = Buffer::open(dir.path(), Options::default()).unwrap();
    assert!(segments(dir.path()).is_empty());
    assert_eq!(buffer.append(b"c", 1).unwrap().seq, 2);
}

#[test]
fn segment_is_deleted_only_when_fully_acked() {
    let dir = tempfile::tempdir().unwrap();
    let mut buffer = Buffer::open(dir.path(), options(3, 100, Full::Reject)).unwrap();
    for i in 0..7 {
        buffer.append(&payload(i), i as u32).unwrap();
    }
    let names: Vec<_> = segments(dir.path())
        .iter()
        .map(|p| p.file_name().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "00000000000000000000.wal",
            "00000000000000000003.wal",
            "00000000000000000006.wal"
        ]
    );
    buffer.ack(1).unwrap();
    assert_eq!(segments(dir.path()).len(), 3);
    buffer.ack(2).unwrap();
    assert_eq!(segments(dir.path()).len(), 2);
    buffer.ack(5).unwrap();
    assert_eq!(segments(dir.path()).len(), 1);
    assert_eq!(buffer.used_bytes(), FRAME);
    buffer.ack(6).unwrap();
    // All acknowledged, but the segment being appended to is kept until it is full.
    assert_eq!(segments(dir.path()).len(), 1);
    assert!(buffer.read_next().unwrap().is_none());
    buffer.append(&payload(7), 7).unwrap();
    buffer.append(&payload(8), 8).unwrap();
    buffer.append(&payload(9), 9).unwrap(); // starts segment 9; segment 6 is now closed
    buffer.ack(8).unwrap();
    assert_eq!(
        segments(dir.path()).len(),
        1,
        "the full, acknowledged segment is deleted"
    );
    buffer.ack(9).unwrap();
    drop(buffer);
    let buffer = Buffer::open(dir.path(), options(3, 100, Full::Reject)).unwrap();
    assert!(segments(dir.path()).is_empty());
    assert_eq!(buffer.used_bytes(), 0);
}

#[test]
fn drop_oldest_counts_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut buffer = Buffer::open(dir.path(), options(3, 7, Full::DropOldest)).unwrap();
    for i in 0..7 {
        assert_eq!(
            buffer.append(&payload(i), i as u32).unwrap().dropped,
            Dropped::default()
        );
    }
    buffer.ack(0).unwrap();
    // The oldest segment holds 0 (acked), 1 and 2: only the two unacked ones are lost.
    let appended = buffer.append(&payload(7), 7).unwrap();
    assert_eq!(appended.seq, 7);
    assert_eq!(
        appended.dropped,
        Dropped {
            records: 2,
            bytes: 20,
            weight: 1 + 2,
            first_seq: 1,
            end_seq: 3,
        }
    );
    assert!(buffer.used_bytes() <= 7 * FRAME);
    assert_eq!(seqs(&read_all(&mut buffer)), [3, 4, 5, 6, 7]);
    // Segments now hold [3, 4, 5] and [6, 7]; a record of 3 frames needs the first to go.
    let big = vec![7u8; (3 * FRAME - 12) as usize];
    let appended = buffer.append(&big, 1).unwrap();
    assert_eq!(
        appended.dropped,
        Dropped {
            records: 3,
            bytes: 30,
            weight: 3 + 4 + 5,
            first_seq: 3,
            end_seq: 6,
        }
    );
    drop(buffer);
    let mut buffer = Buffer::open(dir.path(), options(3, 7, Full::DropOldest)).unwrap();
    let records = read_all(&mut buffer);
    assert_eq!(seqs(&records), [6, 7, 8]);
    assert_eq!(records[2].payload, big);
}

#[test]
fn reject_returns_full_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut buffer = Buffer::open(dir.path(), options(2, 4, Full::Reject)).unwrap();
    for i in 0..4 {
        buffer.append(&payload(i), i as u32).unwrap();
    }
    let err = buffer.append(&payload(4), 4).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Full {
                needed: FRAME,
                used: 88,
                max: 88
            }
        ),
        "{err}"
    );
    assert_eq!(buffer.next_seq(), 4);
    buffer.ack(1).unwrap();
    assert_eq!(buffer.append(&payload(4), 4).unwrap().seq, 4);
    let err = buffer.append(&[0; 100], 1).unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { len: 100, max: 88 }),
        "{err}"
    );
}

#[test]
fn truncated_tail_at_every_offset_keeps_earlier_records() {
    let source = tempfile::tempdir().unwrap();
    let mut buffer = Buffer::open(source.path(), Options::default()).unwrap();
    let payloads: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; usize::from(i) * 7]).collect();
    for p in &payloads {
        buffer.append(p, 1).unwrap();
    }
    drop(buffer);
    let file = &segments(source.path())[0];
    let bytes = fs::read(file).unwrap();
    let last_start = bytes.len() - 12 - payloads[4].len();
    for cut in last_start..bytes.len() {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join(file.file_name().unwrap());
        fs::write(&copy, &bytes[..cut]).unwrap();
        let mut buffer = Buffer::open(dir.path(), Options::default()).unwrap();
        let recovery = buffer.recovery();
        assert_eq!(
            recovery.truncated_bytes,
            (cut - last_start) as u64,
            "cut {cut}"
        );
        assert_eq!(recovery.corrupt_records, 0, "cut {cut}");
        let records = read_all(&mut buffer);
        let got: Vec<_> = records.iter().map(|r| r.payload.clone()).collect();
        assert_eq!(got, payloads[..4], "cut {cut}");
        assert_eq!(seqs(&records), [0, 1, 2, 3], "cut {cut}");
        assert_eq!(buffer.append(b"next", 1).unwrap().seq, 4, "cut {cut}");
    }
}

#[test]
fn flipped_byte_in_a_middle_record_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let mut buffer = Buffer::open(dir.path(), options(3, 100, Full::Reject)).unwrap();
    for i in 0..9 {
        buffer.append(&payload(i), i as u32).unwrap();
    }
    drop(buffer);
    let files = segments(dir.path());
    // Record 1 of the first segment and record 7 (the middle one) of the last.
    for (file, offset) in [(&files[0], FRAME + 12 + 3), (&files[2], FRAME + 12 + 3)] {
        let mut bytes = fs::read(file).unwrap();
        bytes[offset as usize] ^= 0x20;
        fs::write(file, bytes).unwrap();
    }
    let mut buffer = Buffer::open(dir.path(), options(3, 100, Full::Reject)).unwrap();
    assert_eq!(buffer.recovery().corrupt_records, 2);
    assert_eq!(buffer.recovery().truncated_bytes, 4 * FRAME);
    // Records 2 and 8 were intact but followed a corrupt one: their weight is reported.
    assert_eq!(buffer.recovery().cut_records, 2);
    assert_eq!(buffer.recovery().cut_weight, 2 + 8);
    let records = read_all(&mut buffer);
    assert_eq!(seqs(&records), [0, 3, 4, 5, 6]);
    assert!(records.iter().all(|r| r.payload == payload(r.seq)));
    // The numbers of the records lost at the end of the last segment are handed out again.
    assert_eq!(buffer.append(b"x", 1).unwrap().seq, 7);
    drop(buffer);
    let buffer = Buffer::open(dir.path(), options(3, 100, Full::Reject)).unwrap();
    assert_eq!(buffer.recovery(), Default::default(), "repairs are durable");
}

#[test]
fn corruption_after_open_is_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut buffer = Buffer::open(dir.path(), options(2, 100, Full::Reject)).unwrap();
    for i in 0..4 {
        buffer.append(&payload(i), i as u32).unwrap();
    }
    let first = &segments(dir.path())[0];
    let mut bytes = fs::read(first).unwrap();
    bytes[FRAME as usize + 13] ^= 1;
    fs::write(first, bytes).unwrap();
    assert_eq!(buffer.read_next().unwrap().unwrap().seq, 0);
    let err = buffer.read_next().unwrap_err();
    assert!(matches!(err, Error::Corrupt { offset: FRAME, .. }), "{err}");
    assert!(
        err.to_string().contains("00000000000000000000.wal"),
        "{err}"
    );
    assert_eq!(seqs(&read_all(&mut buffer)), [2, 3]);
}

#[test]
fn garbage_files_never_panic() {
    let garbage: [&[u8]; 5] = [
        b"",
        &[0xFF; 3],
        &[0xFF; 64],
        &[0, 0, 0, 0, 1, 2, 3, 4],
        b"\x05\x00\x00\x00\x00\x00\x00\x00hello and more",
    ];
    for bytes in garbage {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("00000000000000000000.wal"), bytes).unwrap();
        fs::write(dir.path().join("00000000000000000100.wal"), bytes).unwrap();
        fs::write(dir.path().join("ack"), bytes).unwrap();
        fs::write(dir.path().join("notes.txt"), bytes).unwrap();
        let mut buffer = Buffer::open(dir.path(), Options::default()).unwrap();
        assert!(read_all(&mut buffer).is_empty());
        assert!(buffer.recovery().ack_reset);
        assert!(buffer.append(b"ok", 1).unwrap().seq <= 100);
    }
}

#[test]
fn io_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    fs::write(&file, b"").unwrap();
    let err = Buffer::open(&file, Options::default()).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(err.to_string().contains("plain-file"), "{err}");
}

#[test]
fn every_sync_policy_round_trips_across_reopen() {
    use std::time::Duration;
    for sync in [
        SyncPolicy::Always,
        SyncPolicy::Interval(Duration::ZERO),
        SyncPolicy::Never,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options {
            sync,
            ..options(2, 100, Full::Reject)
        };
        let mut buffer = Buffer::open(dir.path(), opts.clone()).unwrap();
        for i in 0..5 {
            buffer.append(&payload(i), i as u32).unwrap();
        }
        buffer.ack(1).unwrap();
        buffer.sync().unwrap();
        drop(buffer);
        let mut buffer = Buffer::open(dir.path(), opts).unwrap();
        assert_eq!(seqs(&read_all(&mut buffer)), [2, 3, 4], "{sync:?}");
    }
}
