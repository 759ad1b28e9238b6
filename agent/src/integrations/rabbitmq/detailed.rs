//! Depth and consumers of every queue, from the `rabbitmq_prometheus` plugin's
//! `/metrics/detailed?family=queue_coarse_metrics&family=queue_consumer_count` (one `vhost=`
//! per configured vhost): the cheapest per-queue read the broker offers (ADR 0009), read every
//! interval. The plugin refreshes these about every 1.5 s after a change.

use std::collections::BTreeMap;

/// The query for `vhosts` (all when empty).
pub fn path(vhosts: &[String]) -> String {
    let mut p =
        "/metrics/detailed?family=queue_coarse_metrics&family=queue_consumer_count".to_string();
    for v in vhosts {
        p.push_str("&vhost=");
        p.push_str(&super::encode(v));
    }
    p
}

/// One queue's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Depth {
    /// Messages ready for delivery.
    pub ready: f64,
    /// Messages delivered, not yet acknowledged.
    pub unacked: f64,
    /// Consumers.
    pub consumers: f64,
}

/// Queues by (vhost, name), from the exposition `text`.
pub fn parse(text: &str) -> Result<BTreeMap<(String, String), Depth>, String> {
    let mut out: BTreeMap<(String, String), Depth> = BTreeMap::new();
    for line in text.lines() {
        let Some((name, rest)) = line.split_once('{') else {
            continue;
        };
        let field: fn(&mut Depth) -> &mut f64 = match name {
            "rabbitmq_detailed_queue_messages_ready" => |d| &mut d.ready,
            "rabbitmq_detailed_queue_messages_unacked" => |d| &mut d.unacked,
            "rabbitmq_detailed_queue_consumers" => |d| &mut d.consumers,
            _ => continue,
        };
        let (labels, value) = split_labels(rest).ok_or_else(|| format!("bad line {line:?}"))?;
        let value: f64 = value
            .trim()
            .split(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("bad value in {line:?}"))?;
        let (mut vhost, mut queue) = (None, None);
        for (k, v) in labels {
            match k.as_str() {
                "vhost" => vhost = Some(v),
                "queue" => queue = Some(v),
                _ => {}
            }
        }
        let (Some(vhost), Some(queue)) = (vhost, queue) else {
            return Err(format!("no vhost or queue label in {line:?}"));
        };
        *field(out.entry((vhost, queue)).or_default()) = value;
    }
    Ok(out)
}

/// The labels of `rest` (what follows `{`) and the text after `}`.
fn split_labels(rest: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    let mut i = 0;
    loop {
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix('}') {
            return Some((labels, after));
        }
        let eq = tail.find("=\"")?;
        let key = tail[..eq].trim_start_matches(',').to_string();
        i += eq + 2;
        let mut value = String::new();
        loop {
            let c = rest[i..].chars().next()?;
            i += c.len_utf8();
            match c {
                '\\' => {
                    let n = rest[i..].chars().next()?;
                    i += n.len_utf8();
                    value.push(if n == 'n' { '\n' } else { n });
                }
                '"' => break,
                _ => value.push(c),
            }
        }
        labels.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from RabbitMQ 3.10.8 (`curl ':15692/metrics/detailed?family=queue_coarse_metrics&family=queue_consumer_count'`).
    const CAPTURED: &str = r#"# TYPE rabbitmq_detailed_queue_messages_ready gauge
# HELP rabbitmq_detailed_queue_messages_ready Messages ready to be delivered to consumers
rabbitmq_detailed_queue_messages_ready{vhost="/",queue="orders"} 5
rabbitmq_detailed_queue_messages_ready{vhost="shop",queue="we \"quote\", a\\b"} 1
# TYPE rabbitmq_detailed_queue_messages_unacked gauge
rabbitmq_detailed_queue_messages_unacked{vhost="/",queue="orders"} 2
rabbitmq_detailed_queue_messages_unacked{vhost="shop",queue="we \"quote\", a\\b"} 0
rabbitmq_detailed_queue_messages{vhost="/",queue="orders"} 7
rabbitmq_detailed_queue_process_reductions_total{vhost="/",queue="orders"} 6235
# TYPE rabbitmq_detailed_queue_consumers gauge
rabbitmq_detailed_queue_consumers{vhost="/",queue="orders"} 3
telemetry_scrape_duration_seconds_count{registry="detailed",content_type="text/plain; version=0.0.4"} 1
"#;

    #[test]
    fn parses_depth_and_consumers_with_escaped_names() {
        let q = parse(CAPTURED).unwrap();
        assert_eq!(q.len(), 2);
        assert_eq!(
            q[&("/".to_string(), "orders".to_string())],
            Depth {
                ready: 5.0,
                unacked: 2.0,
                consumers: 3.0
            }
        );
        assert_eq!(
            q[&("shop".to_string(), "we \"quote\", a\\b".to_string())],
            Depth {
                ready: 1.0,
                unacked: 0.0,
                consumers: 0.0
            }
        );
        assert!(parse("rabbitmq_detailed_queue_consumers{vhost=\"/\"} 1").is_err());
        assert_eq!(
            path(&["/".into(), "a b".into()]),
            "/metrics/detailed?family=queue_coarse_metrics&family=queue_consumer_count&vhost=%2F&vhost=a%20b"
        );
    }
}
