//! The JetStream API's list replies, `$JS.API.STREAM.LIST` and `$JS.API.CONSUMER.LIST.<stream>`
//! (JSON, paged by `{"offset": n}`, 256 items a page on current servers), parsed into what is
//! reported.

use serde::Deserialize;

/// One page of a list reply: the items, where it started and how many there are in all.
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    #[serde(default)]
    pub total: usize,
    #[serde(default)]
    pub offset: usize,
    #[serde(default = "Vec::new", alias = "streams", alias = "consumers")]
    pub items: Vec<T>,
    pub error: Option<ApiError>,
}

/// The `error` of a reply.
#[derive(Debug, Deserialize, PartialEq)]
pub struct ApiError {
    #[serde(default)]
    pub code: u16,
    #[serde(default)]
    pub err_code: u32,
    #[serde(default)]
    pub description: String,
}

/// A stream of `STREAM.LIST`.
#[derive(Debug, Deserialize, PartialEq)]
pub struct Stream {
    pub config: StreamConfig,
    pub state: StreamState,
}

/// The part of a stream's configuration used: its name.
#[derive(Debug, Deserialize, PartialEq)]
pub struct StreamConfig {
    pub name: String,
}

/// A stream's state.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct StreamState {
    pub messages: u64,
    pub bytes: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub consumer_count: u64,
}

/// A consumer of `CONSUMER.LIST`.
#[derive(Debug, Deserialize, PartialEq)]
pub struct Consumer {
    pub name: String,
    #[serde(default)]
    pub num_pending: u64,
    #[serde(default)]
    pub num_ack_pending: u64,
    #[serde(default)]
    pub num_redelivered: u64,
    #[serde(default)]
    pub num_waiting: u64,
    #[serde(default)]
    pub delivered: Seq,
    #[serde(default)]
    pub ack_floor: Seq,
    #[serde(default)]
    pub config: ConsumerConfig,
}

/// The part of a consumer's configuration used: which subjects it reads.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct ConsumerConfig {
    pub filter_subject: String,
}

/// A `$JS.API.STREAM.MSG.GET.<stream>` reply: the message's time (none in an error reply).
#[derive(Debug, Deserialize)]
pub struct MsgGet {
    pub message: Option<StoredMsg>,
}

/// A stored message: when the stream received it.
#[derive(Debug, Deserialize)]
pub struct StoredMsg {
    pub time: String,
}

/// Seconds since the Unix epoch of an RFC 3339 UTC time as the server writes it
/// (`2026-12-07T01:16:38.123456789Z`).
pub fn parse_time(t: &str) -> Option<f64> {
    let t = t.strip_suffix('Z')?;
    let (date, time) = t.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut h = hms.splitn(3, ':').map(|x| x.parse::<i64>().ok());
    let (hh, mm, ss) = (h.next()??, h.next()??, h.next()??);
    let frac: f64 = format!("0.{frac}").parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hh * 3600 + mm * 60 + ss) as f64 + frac)
}

/// A position: the stream sequence and the consumer's own.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Seq {
    pub stream_seq: u64,
    pub consumer_seq: u64,
}

/// A page of `body`; the reply's `error`, or JSON that does not parse, as `Err`.
pub fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<Page<T>, String> {
    let page: Page<T> = serde_json::from_slice(body).map_err(|e| {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        format!("{e} in {text:?}")
    })?;
    match &page.error {
        Some(e) => Err(format!(
            "{} (code {}, err_code {})",
            e.description, e.code, e.err_code
        )),
        None => Ok(page),
    }
}

/// The next page's request, or `None` after the last one.
pub fn next_offset<T>(page: &Page<T>) -> Option<usize> {
    let next = page.offset + page.items.len();
    (!page.items.is_empty() && next < page.total).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_captured_replies() {
        // nats-server 2.9, $JS.API.STREAM.LIST (trimmed).
        let streams = br#"{"type":"io.nats.jetstream.api.v1.stream_list_response","total":2,"offset":0,"limit":256,"streams":[{"config":{"name":"ORDERS","subjects":["orders.>"],"retention":"limits"},"created":"2026-12-07T00:00:00Z","state":{"messages":20,"bytes":1040,"first_seq":1,"first_ts":"2026-12-07T00:00:00Z","last_seq":20,"last_ts":"2026-12-07T00:00:01Z","num_subjects":1,"consumer_count":1}}]}"#;
        let page: Page<Stream> = parse(streams).unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].config.name, "ORDERS");
        assert_eq!(
            page.items[0].state,
            StreamState {
                messages: 20,
                bytes: 1040,
                first_seq: 1,
                last_seq: 20,
                consumer_count: 1
            }
        );
        assert_eq!(next_offset(&page), Some(1));

        let consumers = br#"{"type":"io.nats.jetstream.api.v1.consumer_list_response","total":1,"offset":0,"limit":256,"consumers":[{"stream_name":"ORDERS","name":"billing","created":"2026-12-07T00:00:00Z","config":{"durable_name":"billing","ack_policy":"explicit"},"delivered":{"consumer_seq":12,"stream_seq":12},"ack_floor":{"consumer_seq":5,"stream_seq":5},"num_ack_pending":7,"num_redelivered":0,"num_waiting":0,"num_pending":8,"cluster":{"leader":"x"}}]}"#;
        let page: Page<Consumer> = parse(consumers).unwrap();
        let c = &page.items[0];
        assert_eq!(
            (
                c.num_pending,
                c.num_ack_pending,
                c.delivered.stream_seq,
                c.ack_floor.stream_seq
            ),
            (8, 7, 12, 5)
        );
        assert_eq!(next_offset(&page), None);

        let err = br#"{"type":"io.nats.jetstream.api.v1.consumer_list_response","error":{"code":404,"err_code":10059,"description":"stream not found"}}"#;
        let e = parse::<Consumer>(err).unwrap_err();
        assert_eq!(e, "stream not found (code 404, err_code 10059)");
        assert!(parse::<Stream>(b"<html>").is_err());

        let get: MsgGet = serde_json::from_slice(br#"{"type":"io.nats.jetstream.api.v1.stream_msg_get_response","message":{"subject":"ORDERS.new","seq":13,"data":"b3JkZXI=","time":"2026-12-07T01:16:38.5Z"}}"#).unwrap();
        assert_eq!(parse_time(&get.message.unwrap().time), Some(1796606198.5));
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_time("2000-03-01T00:00:00.25Z"), Some(951868800.25));
        assert_eq!(parse_time("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_time("yesterday"), None);
    }
}
