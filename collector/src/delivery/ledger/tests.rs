use super::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn key(a: &str) -> StreamKey {
    StreamKey::new(a, "0123456789abcdef")
}

/// Random events applied live, and the ledger text they write.
fn history(rng: &mut StdRng, events: usize) -> (HashMap<StreamKey, Stream>, Vec<String>) {
    let mut live: HashMap<StreamKey, Stream> = HashMap::new();
    let mut lines = Vec::new();
    for _ in 0..events {
        let k = key(["a1", "a2", "a3"][rng.random_range(0..3)]);
        let mut text = String::new();
        let stream = live.entry(k.clone()).or_insert_with(|| {
            floor(&mut text, &k, 5);
            Stream::new(5)
        });
        if rng.random_range(0..6) == 0 {
            let to = stream.floor() + rng.random_range(0..6);
            stream.advance(to);
            floor(&mut text, &k, to);
        } else {
            let seq = stream.floor() + rng.random_range(0..20);
            if !stream.is_duplicate(seq) {
                stream.insert(seq);
                accepted(&mut text, &k, seq, 7);
            }
        }
        if !text.is_empty() {
            lines.push(text);
        }
    }
    (live, lines)
}

#[test]
fn parses_and_rejects() {
    let k = key("agent-1");
    assert_eq!(
        Line::parse("A agent-1 0123456789abcdef 12 300"),
        Ok(Line::Accepted {
            key: k.clone(),
            seq: 12,
            points: 300
        })
    );
    assert_eq!(
        Line::parse("R agent-1 0123456789abcdef 3 9"),
        Ok(Line::Range {
            key: k,
            first: 3,
            last: 9
        })
    );
    for (bad, why) in [
        ("X a 0123456789abcdef 1", "unknown line kind"),
        ("A a 0123456789ABCDEF 1 1", "invalid stream id"),
        ("A a 0123456789abcdef 1", "too few fields"),
        ("A a 0123456789abcdef 1 2 3", "too many fields"),
        ("F a 0123456789abcdef -1", "invalid number"),
        ("R a 0123456789abcdef 9 3", "range ends before it starts"),
        ("", "too few fields"),
    ] {
        assert_eq!(Line::parse(bad), Err(why), "{bad}");
    }
}

#[test]
fn bad_lines_are_reported_with_their_number() {
    let r = replay(b"F a 0123456789abcdef 1\ngarbage\nA a 0123456789abcdef 1 4\n\xff\n");
    assert_eq!(
        r.bad,
        vec![
            BadLine {
                line: 2,
                error: "too few fields"
            },
            BadLine {
                line: 4,
                error: "not UTF-8"
            }
        ]
    );
    assert_eq!(r.streams[&key("a")].floor(), 2);
}

#[test]
fn replay_equals_live_state() {
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..50 {
        let (live, lines) = history(&mut rng, 200);
        let r = replay(lines.concat().as_bytes());
        assert!(r.bad.is_empty());
        assert_eq!(r.streams, live);
    }
}

#[test]
fn truncation_at_any_byte_replays_the_complete_lines() {
    let mut rng = StdRng::seed_from_u64(11);
    let (_, lines) = history(&mut rng, 60);
    let text = lines.concat();
    let bytes = text.as_bytes();
    for cut in 0..=bytes.len() {
        let got = replay(&bytes[..cut]);
        assert!(got.bad.is_empty(), "cut at {cut}: {:?}", got.bad);
        let complete = bytes[..cut]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        let want = replay(&bytes[..complete]);
        assert_eq!(got.streams, want.streams, "cut at {cut}");
        assert_eq!(got.partial_tail, cut - complete);
    }
}

#[test]
fn compaction_is_equivalent() {
    let mut rng = StdRng::seed_from_u64(13);
    for _ in 0..50 {
        let (live, lines) = history(&mut rng, 300);
        let compact = compacted(live.iter());
        assert!(
            compact
                .lines()
                .all(|l| l.starts_with('F') || l.starts_with('R'))
        );
        let r = replay(compact.as_bytes());
        assert!(r.bad.is_empty());
        assert_eq!(r.streams, live);
        // Appending more events after compaction still replays to the same state.
        let more = replay(format!("{compact}{}", lines.concat()).as_bytes());
        assert_eq!(more.streams, live);
    }
}

#[test]
fn file_round_trip_and_compaction_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let (mut f, r) = LedgerFile::open(&path, 64).unwrap();
    assert!(r.streams.is_empty());
    let k = key("a");
    let mut text = String::new();
    floor(&mut text, &k, 1);
    for seq in [1, 2, 4] {
        accepted(&mut text, &k, seq, 10);
    }
    f.append(&text).unwrap();
    f.append("A a 0123456789abcdef 9").unwrap(); // a cut-short line
    assert!(f.needs_compaction());
    drop(f);
    let (f, r) = LedgerFile::open(&path, 64).unwrap();
    assert_eq!(r.partial_tail, "A a 0123456789abcdef 9".len());
    let s = &r.streams[&k];
    assert_eq!(
        (s.floor(), s.ranges().collect::<Vec<_>>()),
        (3, vec![(4, 4)])
    );
    assert!(!f.needs_compaction());
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "F a 0123456789abcdef 3\nR a 0123456789abcdef 4 4\n"
    );
}

/// Regression: #18. A ledger cut at any byte of its last record (the process or the disk gave
/// out mid-write) reopens with no bad line and the state of the records before it, and what
/// is appended after the reopen is whole.
#[test]
fn a_ledger_cut_at_every_offset_of_its_last_record_reopens_cleanly() {
    let mut rng = StdRng::seed_from_u64(18);
    let (_, records) = history(&mut rng, 40);
    let text: String = records.concat();
    let last = records.last().unwrap();
    let before = &text[..text.len() - last.len()];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let streams_of = |t: &str| replay(t.as_bytes()).streams;
    for cut in before.len()..=text.len() {
        std::fs::write(&path, &text.as_bytes()[..cut]).unwrap();
        let (mut file, replayed) = LedgerFile::open(&path, 1 << 20).unwrap();
        assert!(replayed.bad.is_empty(), "cut at {cut}: {:?}", replayed.bad);
        // Whole lines count; a record of two lines cut between them keeps its first.
        let whole = &text[..text[..cut].rfind('\n').map_or(0, |i| i + 1)];
        assert_eq!(replayed.streams, streams_of(whole), "cut at {cut}");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole.len() as u64);
        let mut more = String::new();
        accepted(&mut more, &key("a9"), 1, 1);
        file.append(&more).unwrap();
        drop(file);
        let (_, again) = LedgerFile::open(&path, 1 << 20).unwrap();
        assert!(
            again.bad.is_empty(),
            "after the append at {cut}: {:?}",
            again.bad
        );
        assert!(again.streams.contains_key(&key("a9")));
    }
}
