//! Store behaviour on literal points, with an injected clock.

use super::*;

fn point(family: &str, kind: Kind, labels: &[(&str, &str)], v: f64, delta: bool) -> Point {
    Point {
        family: family.into(),
        kind,
        help: format!("{family} help."),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        value: Value::Number(v),
        delta,
        start_ns: 0,
    }
}

type Row = (String, Vec<(String, String)>, Value);

fn values(store: &Store) -> Vec<Row> {
    store
        .families()
        .into_iter()
        .flat_map(|f| {
            f.series
                .into_iter()
                .map(move |s| (f.name.clone(), s.labels, s.value))
        })
        .collect()
}

fn store(max: usize) -> Store {
    Store::new(max, Duration::from_secs(10), vec!["reserved".into()])
}

#[test]
fn cumulative_replaces_delta_adds() {
    let s = store(100);
    let a = [("job", "a")];
    let r = s.ingest_at(
        vec![
            point("c_total", Kind::Counter, &a, 5.0, false),
            point("d_total", Kind::Counter, &a, 1.0, true),
        ],
        0,
    );
    assert_eq!(r.stored, 2);
    s.ingest_at(
        vec![
            point("c_total", Kind::Counter, &a, 7.0, false),
            point("d_total", Kind::Counter, &a, 2.5, true),
        ],
        1,
    );
    let v = values(&s);
    assert_eq!(v[0].2, Value::Number(7.0));
    assert_eq!(v[1].2, Value::Number(3.5));
    assert_eq!(s.len(), 2);
}

#[test]
fn histogram_deltas_add_bucketwise() {
    let s = store(100);
    let h = |c: u64| Point {
        value: Value::Histogram {
            bounds: vec![1.0],
            counts: vec![c, 1],
            sum: 2.0,
            count: c + 1,
        },
        ..point("h_seconds", Kind::Histogram, &[], 0.0, true)
    };
    s.ingest_at(vec![h(1)], 0);
    s.ingest_at(vec![h(2)], 0);
    let want = Value::Histogram {
        bounds: vec![1.0],
        counts: vec![3, 2],
        sum: 4.0,
        count: 5,
    };
    assert_eq!(values(&s)[0].2, want);
}

#[test]
fn series_limit_refuses_only_new_series() {
    let s = store(2);
    let batch = |v| {
        vec![
            point("g", Kind::Gauge, &[("x", "1")], v, false),
            point("g", Kind::Gauge, &[("x", "2")], v, false),
            point("g", Kind::Gauge, &[("x", "3")], v, false),
        ]
    };
    let r = s.ingest_at(batch(1.0), 0);
    assert_eq!((r.stored, r.series_limit), (2, 1));
    let r = s.ingest_at(batch(2.0), 0);
    assert_eq!((r.stored, r.series_limit), (2, 1));
    assert_eq!(s.len(), 2);
    assert!(values(&s).iter().all(|v| v.2 == Value::Number(2.0)));
}

#[test]
fn type_conflicts_and_reserved_names() {
    let s = store(100);
    let r = s.ingest_at(
        vec![
            point("m", Kind::Gauge, &[], 1.0, false),
            point("m", Kind::Counter, &[], 1.0, false),
            point("reserved", Kind::Gauge, &[], 1.0, false),
        ],
        0,
    );
    assert_eq!((r.stored, r.name_conflict), (1, 2));
}

#[test]
fn expiry_removes_stale_series_and_their_families() {
    let s = store(100);
    s.ingest_at(vec![point("old", Kind::Gauge, &[], 1.0, false)], 0);
    s.ingest_at(vec![point("new", Kind::Gauge, &[], 1.0, false)], 5_000);
    assert_eq!(s.expire_at(9_999), 0);
    assert_eq!(s.expire_at(10_000), 1);
    assert_eq!(s.len(), 1);
    let names: Vec<_> = s.families().into_iter().map(|f| f.name).collect();
    assert_eq!(names, ["new"]);
    // The family id is recycled; the old name may come back with another type.
    s.ingest_at(vec![point("old", Kind::Counter, &[], 3.0, false)], 10_001);
    let v = values(&s);
    assert_eq!(v.len(), 2);
    assert_eq!(v[1].0, "old");
}

#[test]
fn target_info_is_stored_but_not_counted_as_a_point() {
    let s = store(100);
    let r = s.ingest_at(
        vec![
            point("target_info", Kind::Gauge, &[("job", "a")], 1.0, false),
            point("g", Kind::Gauge, &[("job", "a")], 1.0, false),
        ],
        0,
    );
    assert_eq!(r.stored, 1);
    assert_eq!(s.len(), 2);
}

#[test]
fn many_series_across_shards_sorted_output() {
    let s = store(10_000);
    let batch: Vec<Point> = (0..1000)
        .map(|i| {
            point(
                "g",
                Kind::Gauge,
                &[("i", &format!("{i:04}"))],
                i as f64,
                false,
            )
        })
        .collect();
    assert_eq!(s.ingest_at(batch, 0).stored, 1000);
    let f = s.families();
    assert_eq!(f[0].series.len(), 1000);
    assert!(f[0].series.windows(2).all(|w| w[0].labels < w[1].labels));
    assert_eq!(f[0].series[999].value, Value::Number(999.0));
}

/// Regression: #17. A counter's start (`start_time_unix_nano`) reaches the exposition as its
/// `_created` when asked for: a reset moves it, later deltas keep the first one, gauges have
/// none.
#[test]
fn created_follows_the_counters_start() {
    let s = store(100);
    let at = |family: &str, kind, v, delta, start_ns| Point {
        start_ns,
        ..point(family, kind, &[], v, delta)
    };
    s.ingest_at(
        vec![
            at("c_total", Kind::Counter, 5.0, false, 1_000_000_000),
            at("d_total", Kind::Counter, 1.0, true, 3_000_000_000),
            at("g", Kind::Gauge, 1.0, false, 0),
        ],
        0,
    );
    s.ingest_at(
        vec![
            at("c_total", Kind::Counter, 1.0, false, 2_000_000_000),
            at("d_total", Kind::Counter, 1.0, true, 4_000_000_000),
        ],
        0,
    );
    let created = |with: bool| -> Vec<(String, Option<f64>)> {
        s.snapshot()
            .with_created(with)
            .into_iter()
            .map(|f| (f.name, f.series[0].created))
            .collect()
    };
    assert_eq!(
        created(true),
        [
            ("c_total".to_string(), Some(2.0)),
            ("d_total".to_string(), Some(3.0)),
            ("g".to_string(), None),
        ]
    );
    assert!(created(false).iter().all(|(_, c)| c.is_none()));
}
