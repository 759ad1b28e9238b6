//! Records the series behind alerts/tests/redis.test.yml from a real run: a producer adds 25
//! entries to a stream and to a list every step; the consumer keeps up for 4 steps, then
//! stops. Each step is one collection of the integration (standing for one minute of the
//! promtool test). Run with
//! `cargo test -p dozor-agent --bin dozor-agent recorded -- --ignored --nocapture`;
//! the output is in alerts/tests/recorded/redis-stopped-consumer.txt.

use super::*;

#[test]
#[ignore = "records alert test input; run by hand"]
fn recorded_stopped_consumer() {
    let keys = Keys::new("recorded");
    let mut c = connect(SHARED);
    let (stream, list) = (keys.key("orders"), keys.key("jobs"));
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg("billing")
        .arg("$")
        .arg("MKSTREAM")
        .query(&mut c)
        .unwrap();
    let mut cfg = instance("queues", SHARED);
    cfg.streams = vec![stream.clone()];
    cfg.lists = vec![list.clone()];
    let mut r = Redis::new(&cfg, TIMEOUT).unwrap();
    let (mut lag, mut pending, mut length) = (Vec::new(), Vec::new(), Vec::new());
    for step in 0..30 {
        for i in 0..25 {
            let _: String = redis::cmd("XADD")
                .arg(&stream)
                .arg("*")
                .arg("n")
                .arg(i)
                .query(&mut c)
                .unwrap();
            let _: i64 = redis::cmd("RPUSH").arg(&list).arg(i).query(&mut c).unwrap();
        }
        if step < 4 {
            let _: redis::Value = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg("billing")
                .arg("w1")
                .arg("COUNT")
                .arg(25)
                .arg("STREAMS")
                .arg(&stream)
                .arg(">")
                .query(&mut c)
                .unwrap();
            let _: Vec<String> = redis::cmd("LPOP").arg(&list).arg(25).query(&mut c).unwrap();
        }
        let (s, result) = collect(&mut r);
        result.unwrap();
        let g = |m: &str| value(&s, m, &[&stream, "billing"]).unwrap();
        lag.push(g("dozor.redis.stream.group.lag"));
        pending.push(g("dozor.redis.stream.group.pending"));
        length.push(value(&s, "dozor.redis.list.length", &[&list]).unwrap());
    }
    let show = |v: &[f64]| {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("dozor_redis_stream_group_lag {}", show(&lag));
    println!("dozor_redis_stream_group_pending {}", show(&pending));
    println!("dozor_redis_list_length {}", show(&length));
}
