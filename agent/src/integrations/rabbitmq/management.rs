//! What the management API gives that the prometheus plugin lacks, with `columns=` and
//! pagination (`page_size=500`): per-queue message counters, consumer utilisation, the oldest
//! message's timestamp and dead-letter wiring (`/api/queues`, `/api/bindings`; read on
//! `stats_interval`), per-exchange in/out/unroutable (`/api/exchanges`), and node health
//! (`/api/nodes`, `/api/overview`; every interval). Its figures lag the broker by up to about
//! 6 s (the stats emission interval plus the management database's collection).

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Rows per page: the management API's largest.
pub const PAGE_SIZE: usize = 500;

/// Columns of `/api/queues`.
pub const QUEUE_COLUMNS: &str = "name,vhost,consumer_utilisation,head_message_timestamp,message_stats.publish,message_stats.deliver_get,message_stats.ack,message_stats.redeliver,arguments,effective_policy_definition";
/// Columns of `/api/exchanges`.
pub const EXCHANGE_COLUMNS: &str = "name,vhost,message_stats.publish_in,message_stats.publish_out,message_stats.drop_unroutable,message_stats.return_unroutable";
/// `/api/nodes`, health only.
pub const NODES: &str = "/api/nodes?columns=name,mem_used,mem_limit,mem_alarm,disk_free,disk_free_limit,disk_free_alarm,fd_used,fd_total,sockets_used,sockets_total,proc_used,proc_total";
/// `/api/overview`, the object totals only.
pub const OVERVIEW: &str = "/api/overview?columns=object_totals";

/// Page `page` of `kind` (`queues`, `exchanges`) in `vhost` (all when `None`).
pub fn page_path(kind: &str, vhost: Option<&str>, page: usize, columns: &str) -> String {
    let scope = vhost.map_or(String::new(), |v| format!("/{}", super::encode(v)));
    format!("/api/{kind}{scope}?page={page}&page_size={PAGE_SIZE}&columns={columns}")
}

/// One page: its items and the number of pages.
pub fn parse_page(body: &[u8]) -> Result<(Vec<Value>, usize), String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let items = v["items"].as_array().ok_or("no items")?.clone();
    let pages = v["page_count"].as_u64().unwrap_or(1) as usize;
    Ok((items, pages))
}

/// A key of a queue or an exchange: (vhost, name).
pub type Key = (String, String);

/// What the management API says of one queue.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueueStats {
    /// `message_stats.publish`, `deliver_get`, `ack`, `redeliver` (0 when absent: never
    /// happened since the queue was created).
    pub published: f64,
    /// See `published`.
    pub delivered: f64,
    /// See `published`.
    pub acked: f64,
    /// See `published`.
    pub redelivered: f64,
    /// `consumer_utilisation`, absent without consumers.
    pub utilisation: Option<f64>,
    /// `head_message_timestamp`, Unix seconds: absent when empty or set by no publisher.
    pub head_timestamp: Option<f64>,
    /// Its dead-letter exchange and routing key, from arguments or else its policy.
    pub dead_letter: Option<(String, Option<String>)>,
}

fn num(v: &Value, path: &[&str]) -> Option<f64> {
    let mut v = v;
    for p in path {
        v = v.get(p)?;
    }
    v.as_f64()
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)?.as_str().map(str::to_string)
}

/// A queue item of `/api/queues`.
pub fn queue(item: &Value) -> Option<(Key, QueueStats)> {
    let key = (text(item, "vhost")?, text(item, "name")?);
    // `message_stats` is `[]`, not `{}`, while a queue has none.
    let stat = |k| num(item, &["message_stats", k]).unwrap_or(0.0);
    let args = &item["arguments"];
    let policy = &item["effective_policy_definition"];
    let dead_letter = text(args, "x-dead-letter-exchange")
        .map(|x| (x, text(args, "x-dead-letter-routing-key")))
        .or_else(|| {
            text(policy, "dead-letter-exchange")
                .map(|x| (x, text(policy, "dead-letter-routing-key")))
        });
    Some((
        key,
        QueueStats {
            published: stat("publish"),
            delivered: stat("deliver_get"),
            acked: stat("ack"),
            redelivered: stat("redeliver"),
            utilisation: num(item, &["consumer_utilisation"]),
            head_timestamp: num(item, &["head_message_timestamp"]),
            dead_letter,
        },
    ))
}

/// What the management API says of one exchange.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ExchangeStats {
    /// `publish_in`, `publish_out`, `drop_unroutable`, `return_unroutable`.
    pub publish_in: f64,
    /// See `publish_in`.
    pub publish_out: f64,
    /// See `publish_in`.
    pub dropped: f64,
    /// See `publish_in`.
    pub returned: f64,
}

/// An exchange item of `/api/exchanges`; the default exchange (`""`) is named `amq.default`.
pub fn exchange(item: &Value) -> Option<(Key, ExchangeStats)> {
    let mut name = text(item, "name")?;
    if name.is_empty() {
        name = "amq.default".into();
    }
    let stat = |k| num(item, &["message_stats", k]).unwrap_or(0.0);
    Some((
        (text(item, "vhost")?, name),
        ExchangeStats {
            publish_in: stat("publish_in"),
            publish_out: stat("publish_out"),
            dropped: stat("drop_unroutable"),
            returned: stat("return_unroutable"),
        },
    ))
}

/// The dead-letter queues: those bound to an exchange some queue names as its dead-letter
/// exchange, and on the default exchange the queue its dead-letter routing key names.
/// `bindings` are `(vhost, source exchange, destination queue)`.
pub fn dead_letter_queues(
    queues: &BTreeMap<Key, QueueStats>,
    bindings: &[(String, String, String)],
) -> BTreeSet<Key> {
    let mut out = BTreeSet::new();
    for ((vhost, _), q) in queues {
        let Some((dlx, key)) = &q.dead_letter else {
            continue;
        };
        if dlx.is_empty() {
            if let Some(key) = key {
                out.insert((vhost.clone(), key.clone()));
            }
            continue;
        }
        for (v, source, dest) in bindings {
            if v == vhost && source == dlx {
                out.insert((vhost.clone(), dest.clone()));
            }
        }
    }
    out
}

/// True when some queue dead-letters into a named exchange: only then are bindings needed.
pub fn needs_bindings(queues: &BTreeMap<Key, QueueStats>) -> bool {
    queues
        .values()
        .any(|q| matches!(&q.dead_letter, Some((x, _)) if !x.is_empty()))
}

/// `/api/bindings?columns=vhost,source,destination,destination_type`: (vhost, source, queue)
/// of the bindings to queues.
pub fn bindings(body: &[u8]) -> Result<Vec<(String, String, String)>, String> {
    let v: Vec<Value> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok(v.iter()
        .filter(|b| b["destination_type"] == "queue")
        .filter_map(|b| {
            Some((
                text(b, "vhost")?,
                text(b, "source")?,
                text(b, "destination")?,
            ))
        })
        .collect())
}

/// One node's health from `/api/nodes`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Node {
    /// `name`.
    pub name: String,
    /// Values by field name (`mem_used`, ...; alarms as 0/1).
    pub values: BTreeMap<&'static str, f64>,
}

/// The fields of a node kept.
pub const NODE_FIELDS: [&str; 12] = [
    "mem_used",
    "mem_limit",
    "mem_alarm",
    "disk_free",
    "disk_free_limit",
    "disk_free_alarm",
    "fd_used",
    "fd_total",
    "sockets_used",
    "sockets_total",
    "proc_used",
    "proc_total",
];

/// The body of `/api/nodes`.
pub fn nodes(body: &[u8]) -> Result<Vec<Node>, String> {
    let v: Vec<Value> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok(v.iter()
        .filter_map(|n| {
            let mut values = BTreeMap::new();
            for f in NODE_FIELDS {
                let x = match &n[f] {
                    Value::Bool(b) => Some(f64::from(u8::from(*b))),
                    other => other.as_f64(),
                };
                if let Some(x) = x {
                    values.insert(f, x);
                }
            }
            Some(Node {
                name: text(n, "name")?,
                values,
            })
        })
        .collect())
}

/// Connections and channels from `/api/overview?columns=object_totals`.
pub fn totals(body: &[u8]) -> Result<(f64, f64), String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let t = &v["object_totals"];
    Ok((
        t["connections"]
            .as_f64()
            .ok_or("no object_totals.connections")?,
        t["channels"].as_f64().ok_or("no object_totals.channels")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from RabbitMQ 3.10.8 with `columns=` QUEUE_COLUMNS (trimmed to three queues).
    const QUEUES: &str = r#"{"filtered_count":3,"item_count":3,"items":[
{"arguments":{"x-dead-letter-exchange":"","x-dead-letter-routing-key":"orders.dlq"},"consumer_utilisation":0.5,"effective_policy_definition":{},"head_message_timestamp":1700000000,"message_stats":{"publish":10,"deliver_get":4,"ack":3,"redeliver":1},"name":"orders","vhost":"/"},
{"arguments":{},"effective_policy_definition":{"dead-letter-exchange":"dlx"},"head_message_timestamp":null,"message_stats":[],"name":"mails","vhost":"/"},
{"arguments":{},"effective_policy_definition":[],"message_stats":[],"name":"orders.dlq","vhost":"/"}],
"page":1,"page_count":2,"page_size":500,"total_count":3}"#;

    #[test]
    fn queues_with_counters_timestamps_and_dead_letter_wiring() {
        let (items, pages) = parse_page(QUEUES.as_bytes()).unwrap();
        assert_eq!(pages, 2);
        let q: BTreeMap<Key, QueueStats> = items.iter().filter_map(queue).collect();
        let orders = &q[&("/".into(), "orders".into())];
        assert_eq!(
            *orders,
            QueueStats {
                published: 10.0,
                delivered: 4.0,
                acked: 3.0,
                redelivered: 1.0,
                utilisation: Some(0.5),
                head_timestamp: Some(1.7e9),
                dead_letter: Some((String::new(), Some("orders.dlq".into()))),
            }
        );
        let mails = &q[&("/".into(), "mails".into())];
        assert_eq!((mails.published, mails.head_timestamp), (0.0, None));
        assert_eq!(mails.dead_letter, Some(("dlx".into(), None)));
        assert!(needs_bindings(&q));
        let b = bindings(br#"[{"source":"dlx","vhost":"/","destination":"mails.dead","destination_type":"queue"},{"source":"dlx","vhost":"/","destination":"x2","destination_type":"exchange"},{"source":"dlx","vhost":"other","destination":"elsewhere","destination_type":"queue"}]"#).unwrap();
        let dlqs: Vec<Key> = dead_letter_queues(&q, &b).into_iter().collect();
        assert_eq!(
            dlqs,
            [
                ("/".into(), "mails.dead".into()),
                ("/".into(), "orders.dlq".into())
            ]
        );
    }

    #[test]
    fn exchanges_nodes_and_totals() {
        let (items, _) = parse_page(br#"{"items":[{"message_stats":{"publish_in":5,"publish_out":3,"drop_unroutable":2},"name":"","vhost":"/"},{"name":"amq.topic","vhost":"/"}],"page_count":1}"#).unwrap();
        let x: Vec<_> = items.iter().filter_map(exchange).collect();
        assert_eq!(x[0].0, ("/".to_string(), "amq.default".to_string()));
        assert_eq!(
            (
                x[0].1.publish_in,
                x[0].1.publish_out,
                x[0].1.dropped,
                x[0].1.returned
            ),
            (5.0, 3.0, 2.0, 0.0)
        );
        assert_eq!(x[1].1, ExchangeStats::default());
        let n = nodes(br#"[{"fd_total":1024,"sockets_total":832,"mem_limit":10110473011,"mem_alarm":false,"disk_free_limit":50000000,"disk_free_alarm":true,"proc_total":1048576,"name":"rabbit@localhost","mem_used":141242368,"fd_used":38,"sockets_used":0,"proc_used":385,"disk_free":85015224320}]"#).unwrap();
        assert_eq!(n[0].name, "rabbit@localhost");
        assert_eq!(n[0].values.len(), 12);
        assert_eq!(
            (n[0].values["mem_alarm"], n[0].values["disk_free_alarm"]),
            (0.0, 1.0)
        );
        assert_eq!(n[0].values["mem_used"], 141242368.0);
        assert_eq!(
            totals(br#"{"object_totals":{"channels":2,"connections":1,"consumers":0}}"#).unwrap(),
            (1.0, 2.0)
        );
    }
}
