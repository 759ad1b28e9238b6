use super::*;
use std::sync::atomic::{AtomicU64, Ordering};

const STREAM: &str = "00000000000000aa";

fn batch(agent: &str, seq: u64, oldest: u64) -> Batch {
    Batch {
        key: StreamKey::new(agent, STREAM),
        seq,
        oldest,
        elsewhere: Vec::new(),
    }
}

#[test]
fn duplicates_and_gaps_are_counted_per_agent() {
    let d = Delivery::in_memory(Duration::from_secs(60));
    assert_eq!(
        d.deliver(&batch("a1", 5, 5), 10, || 1).unwrap(),
        Delivered::Stored(1)
    );
    assert_eq!(
        d.deliver(&batch("a1", 5, 5), 10, || 2).unwrap(),
        Delivered::Duplicate
    );
    assert_eq!(
        d.deliver(&batch("a1", 7, 5), 10, || 3).unwrap(),
        Delivered::Stored(3)
    );
    // The agent gave up on 6 (and everything below 9): 6 and 8 are missing.
    assert_eq!(
        d.deliver(&batch("a1", 9, 9), 10, || 4).unwrap(),
        Delivered::Stored(4)
    );
    assert_eq!(
        d.deliver(&batch("a2", 1, 1), 3, || 5).unwrap(),
        Delivered::Stored(5)
    );
    assert_eq!(
        d.rows(),
        vec![
            DeliveryRow {
                agent: "a1".into(),
                accepted_batches: 3,
                duplicate_batches: 1,
                duplicate_points: 10,
                missing_batches: 2,
                elsewhere_batches: 0,
            },
            DeliveryRow {
                agent: "a2".into(),
                accepted_batches: 1,
                ..Default::default()
            },
        ]
    );
    assert_eq!(d.stream(&StreamKey::new("a1", STREAM)).unwrap().floor(), 10);
}

/// A failback: collector A saw 1..=3, the agent went to B for 4..=9, came back to A with 10
/// and `dozor-elsewhere: 4-9` and `dozor-oldest: 10`. Nothing is missing; a second run in the
/// header that was already told is not counted twice; the ledger replays it.
#[test]
fn ranges_received_elsewhere_are_not_gaps_and_survive_replay() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let d = Delivery::with_ledger(&path, 1 << 20, Duration::from_secs(60)).unwrap();
    for seq in 1..=3 {
        d.deliver(&batch("a1", seq, 1), 1, || ()).unwrap();
    }
    let mut back = batch("a1", 10, 10);
    back.elsewhere = vec![(4, 6), (5, 9)];
    d.deliver(&back, 1, || ()).unwrap();
    let mut next = batch("a1", 11, 11);
    next.elsewhere = vec![(4, 9)];
    d.deliver(&next, 1, || ()).unwrap();
    let row = &d.rows()[0];
    assert_eq!((row.missing_batches, row.elsewhere_batches), (0, 6));
    let key = StreamKey::new("a1", STREAM);
    assert_eq!(d.stream(&key).unwrap().floor(), 12);
    drop(d);
    // Replayed: 4..=9 are settled, so an agent that says oldest 12 reveals no gap.
    let d = Delivery::with_ledger(&path, 1 << 20, Duration::from_secs(60)).unwrap();
    assert_eq!(d.stream(&key).unwrap().floor(), 12);
}

#[test]
fn the_elsewhere_header_is_bounded_and_checked() {
    assert_eq!(
        parse_elsewhere("120-156,200-210,7").unwrap(),
        vec![(120, 156), (200, 210), (7, 7)]
    );
    let sixteen: Vec<String> = (0..16)
        .map(|i| format!("{}-{}", u64::MAX - 40 + i, u64::MAX - 20 + i))
        .collect();
    assert_eq!(parse_elsewhere(&sixteen.join(",")).unwrap().len(), 16);
    for bad in [
        "",
        "1-",
        "-1",
        "a-b",
        "5-3",
        "1-2,",
        "+1-2",
        "1 - 2",
        "1-2-3",
        "18446744073709551616",
    ] {
        assert!(parse_elsewhere(bad).is_err(), "{bad:?} accepted");
    }
    let seventeen: Vec<String> = (0..17).map(|i| format!("{}", 2 * i)).collect();
    assert!(parse_elsewhere(&seventeen.join(",")).is_err());
    let long = format!("1-{}", "0".repeat(MAX_ELSEWHERE_BYTES));
    assert!(parse_elsewhere(&long).unwrap_err().contains("longer than"));
}

#[test]
fn concurrent_redelivery_is_stored_once() {
    let d = Arc::new(Delivery::in_memory(Duration::from_secs(60)));
    let stored = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (d, stored) = (d.clone(), stored.clone());
            std::thread::spawn(move || {
                for seq in 1..=200 {
                    d.deliver(&batch("a1", seq, 1), 1, || {
                        // Widen the window between the decision and the record.
                        std::thread::yield_now();
                        stored.fetch_add(1, Ordering::SeqCst);
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(stored.load(Ordering::SeqCst), 200);
    let row = &d.rows()[0];
    assert_eq!(
        (row.accepted_batches, row.duplicate_batches),
        (200, 7 * 200)
    );
}

#[test]
fn ledger_survives_reopening_and_counts_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let ttl = Duration::from_secs(60);
    let d = Delivery::with_ledger(&path, 1 << 20, ttl).unwrap();
    for seq in 1..=5 {
        d.deliver(&batch("a1", seq, 1), 4, || ()).unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        vec![
            "F a1 00000000000000aa 1",
            "A a1 00000000000000aa 1 4",
            "A a1 00000000000000aa 2 4",
            "A a1 00000000000000aa 3 4",
            "A a1 00000000000000aa 4 4",
            "A a1 00000000000000aa 5 4",
        ]
    );
    drop(d);
    std::fs::write(&path, format!("{text}bogus line\n")).unwrap();
    let d = Delivery::with_ledger(&path, 1 << 20, ttl).unwrap();
    assert_eq!(d.ledger_errors(), 1);
    assert_eq!(
        d.deliver(&batch("a1", 3, 1), 4, || ()).unwrap(),
        Delivered::Duplicate
    );
    assert_eq!(
        d.deliver(&batch("a1", 6, 1), 4, || ()).unwrap(),
        Delivered::Stored(())
    );
}

#[test]
fn compaction_keeps_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let ttl = Duration::from_secs(60);
    let d = Delivery::with_ledger(&path, 200, ttl).unwrap();
    for seq in (1..=100).rev() {
        d.deliver(&batch("a1", seq * 2, 2), 1, || ()).unwrap();
    }
    // Compacted on the way: R lines only come from compaction.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.lines().any(|l| l.starts_with("R ")), "{text}");
    drop(d);
    let d = Delivery::with_ledger(&path, 200, ttl).unwrap();
    for seq in 1..=100 {
        assert_eq!(
            d.deliver(&batch("a1", seq * 2, 2), 1, || ()).unwrap(),
            Delivered::Duplicate
        );
    }
    assert_eq!(
        d.deliver(&batch("a1", 3, 2), 1, || ()).unwrap(),
        Delivered::Stored(())
    );
}

#[test]
fn silent_streams_are_forgotten() {
    let d = Delivery::in_memory(Duration::from_millis(30));
    d.deliver(&batch("a1", 1, 1), 1, || ()).unwrap();
    std::thread::sleep(Duration::from_millis(40));
    d.expire();
    assert!(d.rows().is_empty());
    assert!(d.stream(&StreamKey::new("a1", STREAM)).is_none());
}

#[test]
fn names_and_ids() {
    assert!(valid_agent("web-01.plant-a"));
    assert!(!valid_agent("has space"));
    assert!(!valid_agent(""));
    assert!(!valid_agent(&"x".repeat(129)));
    assert!(valid_stream("0123456789abcdef"));
    assert!(!valid_stream("0123456789abcdeF"));
    assert!(!valid_stream("0123"));
}

/// What a store may fail with in these tests.
#[derive(Debug, PartialEq)]
enum Failed {
    Full,
    Unrecorded,
}

impl From<Unrecorded> for Failed {
    fn from(_: Unrecorded) -> Self {
        Failed::Unrecorded
    }
}

#[test]
fn a_failed_store_records_nothing() {
    let d = Delivery::in_memory(Duration::from_secs(60));
    let b = batch("a1", 5, 5);
    assert_eq!(
        d.try_deliver(&b, 3, || Err::<(), _>(Failed::Full)),
        Err(Failed::Full)
    );
    assert_eq!(d.stream(&b.key), None);
    assert!(d.rows().is_empty());
    // The retry is new, and after it the batch is a duplicate.
    assert_eq!(
        d.try_deliver(&b, 3, || Ok::<_, Failed>(1)),
        Ok(Delivered::Stored(1))
    );
    assert_eq!(
        d.try_deliver(&b, 3, || Ok::<_, Failed>(2)),
        Ok(Delivered::Duplicate)
    );
}

/// Regression: #18. With the ledger's disk full, a batch is either recorded or refused (and
/// then leaves no trace, so its retry is new); a torn line is never left in the middle; after
/// space returns and a restart, nothing is missing, doubled or reported as a gap.
#[test]
fn a_full_ledger_disk_refuses_and_forgets_nothing_it_answered() {
    let fs = dozor_testkit::tmpfs::Tmpfs::mount(64 << 10);
    let path = fs.path().join("ledger");
    let d = Delivery::with_ledger(&path, 1 << 20, Duration::from_secs(60)).unwrap();
    for seq in 1..=20 {
        d.deliver(&batch("a1", seq, 1), 1, || ()).unwrap();
    }
    let filler = fs.fill("filler");
    let mut refused = Vec::new();
    // The ledger's last page has room for a while; then it needs another.
    for seq in 21..=400 {
        match d.deliver(&batch("a1", seq, 1), 1, || ()) {
            Ok(Delivered::Stored(())) => {}
            Ok(Delivered::Duplicate) => panic!("{seq} a duplicate"),
            Err(Unrecorded(_)) => refused.push(seq),
        }
    }
    assert!(!refused.is_empty(), "the full disk refused nothing");
    assert!(d.ledger_errors() > 0);
    for &seq in &refused {
        let stream = d.stream(&batch("a1", seq, 1).key).unwrap();
        assert!(!stream.is_duplicate(seq), "{seq} refused but recorded");
    }
    // Space back: the agent sends the refused batches again, and moves its oldest on.
    std::fs::remove_file(filler).unwrap();
    for &seq in &refused {
        assert_eq!(
            d.deliver(&batch("a1", seq, 1), 1, || ()).unwrap(),
            Delivered::Stored(())
        );
    }
    d.deliver(&batch("a1", 401, 401), 1, || ()).unwrap();
    d.close();
    let again = Delivery::with_ledger(&path, 1 << 20, Duration::from_secs(60)).unwrap();
    assert_eq!(again.ledger_errors(), 0, "a bad line in the ledger");
    let stream = again.stream(&batch("a1", 1, 1).key).unwrap();
    for seq in 1..=401 {
        assert!(stream.is_duplicate(seq), "{seq} forgotten by the restart");
    }
    again.deliver(&batch("a1", 402, 402), 1, || ()).unwrap();
    assert_eq!(again.rows()[0].missing_batches, 0, "a false gap");
}
