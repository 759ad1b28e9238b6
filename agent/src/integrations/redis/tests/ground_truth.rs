//! Exact lengths, pending and lag against what the test itself pushed, read and acknowledged.

use super::*;

#[test]
fn list_lengths_are_exact_for_names_and_patterns() {
    let keys = Keys::new("lists");
    let mut c = connect(SHARED);
    let (a, b, gone) = (keys.key("q:a"), keys.key("q:b"), keys.key("q:gone"));
    for i in 0..17 {
        let _: i64 = redis::cmd("RPUSH").arg(&a).arg(i).query(&mut c).unwrap();
    }
    for i in 0..5 {
        let _: i64 = redis::cmd("LPUSH").arg(&b).arg(i).query(&mut c).unwrap();
    }
    // A string under the pattern is not a list: SCAN ... TYPE list leaves it out.
    let _: () = redis::cmd("SET")
        .arg(keys.key("q:str"))
        .arg("x")
        .query(&mut c)
        .unwrap();
    let mut cfg = instance("cache", SHARED);
    cfg.lists = vec![format!("{}q:*", keys.0), gone.clone()];
    let mut r = Redis::new(&cfg, TIMEOUT).unwrap();
    let (s, result) = collect(&mut r);
    result.unwrap();
    assert_eq!(value(&s, "dozor.redis.up", &[]), Some(1.0));
    assert_eq!(value(&s, "dozor.redis.list.length", &[&a]), Some(17.0));
    assert_eq!(value(&s, "dozor.redis.list.length", &[&b]), Some(5.0));
    // A named list that does not exist (drained: Redis deletes empty lists) is 0.
    assert_eq!(value(&s, "dozor.redis.list.length", &[&gone]), Some(0.0));
    assert_eq!(
        value(&s, "dozor.redis.list.length", &[&keys.key("q:str")]),
        None
    );
    assert!(value(&s, "redis.memory.used", &[]).unwrap() > 0.0);
    assert!(value(&s, "redis.clients.connected", &[]).unwrap() >= 2.0);

    // Pop 4: the next run sees it.
    let _: Vec<String> = redis::cmd("LPOP").arg(&a).arg(4).query(&mut c).unwrap();
    let (s, _) = collect(&mut r);
    assert_eq!(value(&s, "dozor.redis.list.length", &[&a]), Some(13.0));

    // A budget of 1 series: the first name keeps its own, the rest are summed into _other.
    cfg.max_series = 1;
    let mut r = Redis::new(&cfg, TIMEOUT).unwrap();
    let (s, _) = collect(&mut r);
    assert_eq!(value(&s, "dozor.redis.list.length", &[&a]), Some(13.0));
    assert_eq!(value(&s, "dozor.redis.list.length", &["_other"]), Some(5.0));
    assert_eq!(
        value(&s, "dozor.redis.overflow.entities", &["key"]),
        Some(2.0)
    );
}

fn xadd(c: &mut redis::Connection, key: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            redis::cmd("XADD")
                .arg(key)
                .arg("*")
                .arg("order")
                .arg(i)
                .query(c)
                .unwrap()
        })
        .collect()
}

/// Redis's own `lag` of `group` on `key` (None when it reports nil).
fn redis_lag(c: &mut redis::Connection, key: &str, group: &str) -> Option<i64> {
    let v: redis::Value = redis::cmd("XINFO").arg("GROUPS").arg(key).query(c).unwrap();
    let groups = crate::integrations::redis::streams::parse_groups(&v);
    groups
        .iter()
        .find(|g| g.name == group)
        .expect("group")
        .lag
        .map(|l| l as i64)
}

// Regression: #12 (Redis 7.0's XINFO GROUPS lag is null after XDEL; ours stays exact).
#[test]
fn stream_pending_and_lag_are_exact_and_survive_xdel() {
    let keys = Keys::new("streams");
    let mut c = connect(SHARED);
    let key = keys.key("orders");
    const N: usize = 20;
    const K: usize = 12;
    const J: usize = 5;
    let ids = xadd(&mut c, &key, N);
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&key)
        .arg("billing")
        .arg("0")
        .query(&mut c)
        .unwrap();
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&key)
        .arg("idle")
        .arg("0")
        .query(&mut c)
        .unwrap();
    let read: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("billing")
        .arg("worker-1")
        .arg("COUNT")
        .arg(K)
        .arg("STREAMS")
        .arg(&key)
        .arg(">")
        .query(&mut c)
        .unwrap();
    assert_ne!(read, redis::Value::Nil);
    let acked: i64 = redis::cmd("XACK")
        .arg(&key)
        .arg("billing")
        .arg(&ids[..J])
        .query(&mut c)
        .unwrap();
    assert_eq!(acked, J as i64);

    let mut cfg = instance("queues", SHARED);
    cfg.streams = vec![key.clone(), keys.key("missing")];
    let mut r = Redis::new(&cfg, TIMEOUT).unwrap();
    let (s, result) = collect(&mut r);
    result.unwrap();
    let g = |name: &str, group: &str| value(&s, name, &[&key, group]);
    assert_eq!(
        value(&s, "dozor.redis.stream.length", &[&key]),
        Some(N as f64)
    );
    assert_eq!(
        g("dozor.redis.stream.group.pending", "billing"),
        Some((K - J) as f64)
    );
    assert_eq!(
        g("dozor.redis.stream.group.lag", "billing"),
        Some((N - K) as f64)
    );
    assert_eq!(
        g("dozor.redis.stream.group.lag.counted", "billing"),
        Some(0.0)
    );
    assert_eq!(g("dozor.redis.stream.group.lag", "idle"), Some(N as f64));
    assert_eq!(
        value(
            &s,
            "dozor.redis.stream.consumer.pending",
            &[&key, "billing", "worker-1"]
        ),
        Some((K - J) as f64)
    );
    assert!(
        value(
            &s,
            "dozor.redis.stream.consumer.idle",
            &[&key, "billing", "worker-1"]
        )
        .unwrap()
            < 60.0
    );
    assert_eq!(
        value(&s, "dozor.redis.stream.length", &[&keys.key("missing")]),
        Some(0.0)
    );

    // Delete one entry after billing's position (and one before it, already acknowledged).
    let deleted: i64 = redis::cmd("XDEL")
        .arg(&key)
        .arg(&ids[N - 1])
        .arg(&ids[0])
        .query(&mut c)
        .unwrap();
    assert_eq!(deleted, 2);
    assert_eq!(
        redis_lag(&mut c, &key, "billing"),
        None,
        "Redis's own lag is nil now"
    );
    let (s, result) = collect(&mut r);
    result.unwrap();
    let g = |name: &str, group: &str| value(&s, name, &[&key, group]);
    assert_eq!(
        value(&s, "dozor.redis.stream.length", &[&key]),
        Some((N - 2) as f64)
    );
    assert_eq!(
        g("dozor.redis.stream.group.lag", "billing"),
        Some((N - K - 1) as f64)
    );
    assert_eq!(
        g("dozor.redis.stream.group.lag.counted", "billing"),
        Some(1.0)
    );
    assert_eq!(
        g("dozor.redis.stream.group.lag", "idle"),
        Some((N - 2) as f64)
    );
    assert_eq!(
        g("dozor.redis.stream.group.pending", "billing"),
        Some((K - J) as f64)
    );

    // A lag counted in several XRANGE pages, and bounded.
    r.lag_count_limit = 3;
    let (s, _) = collect(&mut r);
    assert_eq!(
        value(&s, "dozor.redis.stream.group.lag", &[&key, "billing"]),
        Some(3.0)
    );
}

/// Explicit ids a second apart, so the side the agent counts is known: a group near the end
/// (entries before it counted, subtracted from XLEN) and one near the start (entries after it).
// Regression: #12
#[test]
fn counted_lag_is_exact_from_either_side() {
    let keys = Keys::new("sides");
    let mut c = connect(SHARED);
    let key = keys.key("orders");
    const N: u64 = 2500;
    for i in 1..=N {
        let _: String = redis::cmd("XADD")
            .arg(&key)
            .arg(format!("{}-1", i * 1000))
            .arg("n")
            .arg(i)
            .query(&mut c)
            .unwrap();
    }
    // late: read up to entry 2300; early: up to entry 200.
    for (group, at) in [("late", 2300u64), ("early", 200)] {
        let _: () = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&key)
            .arg(group)
            .arg(format!("{}-1", at * 1000))
            .query(&mut c)
            .unwrap();
    }
    // Delete entries after both positions (Redis's lag becomes null) and one before both.
    let deleted: i64 = redis::cmd("XDEL")
        .arg(&key)
        .arg("2400000-1")
        .arg("2450000-1")
        .arg("100000-1")
        .query(&mut c)
        .unwrap();
    assert_eq!(deleted, 3);
    let mut cfg = instance("queues", SHARED);
    cfg.streams = vec![key.clone()];
    let mut r = Redis::new(&cfg, TIMEOUT).unwrap();
    let (s, result) = collect(&mut r);
    result.unwrap();
    let lag = |g: &str| value(&s, "dozor.redis.stream.group.lag", &[&key, g]);
    let counted = |g: &str| value(&s, "dozor.redis.stream.group.lag.counted", &[&key, g]);
    assert_eq!(
        value(&s, "dozor.redis.stream.length", &[&key]),
        Some((N - 3) as f64)
    );
    // After 2300: 2301..=2500 less the two deleted.
    assert_eq!(lag("late"), Some(198.0));
    assert_eq!(counted("late"), Some(1.0));
    // After 200: 201..=2500 less the two deleted.
    assert_eq!(lag("early"), Some(2298.0));
    assert_eq!(counted("early"), Some(1.0));
}

/// The age of the oldest undelivered entry, against ids the test stamped itself.
#[test]
fn lag_in_seconds_is_the_age_of_the_oldest_undelivered_entry() {
    let keys = Keys::new("age");
    let mut c = connect(SHARED);
    let key = keys.key("orders");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    // Entries stamped 90, 60 and 30 s ago; the group has read the first.
    let ids: Vec<String> = [90_000u64, 60_000, 30_000]
        .iter()
        .map(|ago| format!("{}-0", now_ms - ago))
        .collect();
    for id in &ids {
        let _: String = redis::cmd("XADD")
            .arg(&key)
            .arg(id)
            .arg("n")
            .arg(1)
            .query(&mut c)
            .unwrap();
    }
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&key)
        .arg("billing")
        .arg(&ids[0])
        .query(&mut c)
        .unwrap();
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&key)
        .arg("done")
        .arg("$")
        .query(&mut c)
        .unwrap();
    let mut cfg = instance("queues", SHARED);
    cfg.streams = vec![key.clone()];
    let (s, result) = collect(&mut Redis::new(&cfg, TIMEOUT).unwrap());
    result.unwrap();
    let age = value(&s, "dozor.redis.stream.group.lag.age", &[&key, "billing"]).unwrap();
    let truth = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        - (now_ms - 60_000)) as f64
        / 1000.0;
    assert!((age - truth).abs() < 1.0, "age {age}, truth {truth}");
    assert_eq!(
        value(&s, "dozor.redis.stream.group.lag.age", &[&key, "done"]),
        Some(0.0)
    );
}
