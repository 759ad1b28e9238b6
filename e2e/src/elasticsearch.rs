//! A fake Elasticsearch for tests: `POST /_bulk` and `POST /{index}/_bulk` as the real bulk API
//! answers them, documents kept in memory, and faults on demand.
//!
//! What it checks and answers like Elasticsearch 8: the `Content-Type` (`application/x-ndjson`
//! or `application/json`, else 406); NDJSON of action and source lines; `create` and `index`
//! actions (others are a 400 for the whole request, which this fake does not need); per-item
//! `status` and `error{type, reason}`, and a top-level `errors`; `create` of an existing `_id`
//! is a 409 `version_conflict_engine_exception`. An index named `logs-*` behaves as a data
//! stream: only `create` is allowed, `@timestamp` is required, and items name a backing index
//! `.ds-<name>-<date>-000001`.
//!
//! Faults: [`FakeEs::stop`] closes the port (connection refused) until [`FakeEs::start`];
//! [`Faults::fail_requests`] answers whole requests 503; [`Faults::items_429`] answers items 429
//! `es_rejected_execution_exception`; [`Faults::reject_attribute`] rejects documents carrying
//! that attribute with a 400 `mapper_parsing_exception`.

use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Faults to inject; each counter is decremented as it is used.
#[derive(Debug, Default, Clone)]
pub struct Faults {
    /// The next this many bulk requests get a whole-request 503.
    pub fail_requests: u32,
    /// The next this many items get a 429.
    pub items_429: u32,
    /// Documents whose `attributes` hold this key are rejected with a 400 mapping error.
    pub reject_attribute: Option<String>,
}

/// What the fake has seen and holds.
#[derive(Debug, Default)]
pub struct State {
    /// Documents by (index as named in the request, `_id`).
    pub docs: BTreeMap<(String, String), Value>,
    /// Faults still to inject.
    pub faults: Faults,
    /// Bulk requests answered (any status).
    pub requests: u64,
    /// Items by the status they got.
    pub statuses: BTreeMap<u16, u64>,
    /// How often each `_id` was seen in a request.
    pub attempts: HashMap<String, u64>,
}

/// A fake Elasticsearch on a loopback port.
pub struct FakeEs {
    /// Its port.
    pub port: u16,
    /// Shared state, also across [`FakeEs::stop`] and [`FakeEs::start`].
    pub state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeEs {
    /// Listens on a free port.
    pub fn new() -> FakeEs {
        let mut es = FakeEs {
            port: crate::free_port(),
            state: Arc::default(),
            stop: Arc::default(),
            thread: None,
        };
        es.start();
        es
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts listening again (after [`FakeEs::stop`]).
    pub fn start(&mut self) {
        if self.thread.is_some() {
            return;
        }
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("binding the fake ES");
        listener.set_nonblocking(true).unwrap();
        self.stop.store(false, Ordering::SeqCst);
        let (state, stop) = (self.state.clone(), self.stop.clone());
        self.thread = Some(std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let state = state.clone();
                        std::thread::spawn(move || serve(conn, &state));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }));
    }

    /// Closes the port: connections are refused until [`FakeEs::start`].
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Changes the faults.
    pub fn faults(&self, f: impl FnOnce(&mut Faults)) {
        f(&mut self.state.lock().unwrap().faults);
    }

    /// The documents of `index`, by `_id`.
    pub fn documents(&self, index: &str) -> BTreeMap<String, Value> {
        let s = self.state.lock().unwrap();
        s.docs
            .iter()
            .filter(|((i, _), _)| i == index)
            .map(|((_, id), v)| (id.clone(), v.clone()))
            .collect()
    }

    /// Items answered with `status` so far.
    pub fn items_with_status(&self, status: u16) -> u64 {
        *self
            .state
            .lock()
            .unwrap()
            .statuses
            .get(&status)
            .unwrap_or(&0)
    }

    /// How often `id` was sent.
    pub fn attempts(&self, id: &str) -> u64 {
        *self.state.lock().unwrap().attempts.get(id).unwrap_or(&0)
    }
}

impl Default for FakeEs {
    fn default() -> Self {
        FakeEs::new()
    }
}

impl Drop for FakeEs {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One request on a connection, answered with `Connection: close`.
fn serve(conn: TcpStream, state: &Mutex<State>) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(&conn);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let (status, response) = handle(&method, &path, &headers, &body, state);
    let text = response.to_string();
    let mut conn = conn;
    let _ = write!(
        conn,
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        reason(status),
        text.len()
    );
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        _ => "Service Unavailable",
    }
}

fn error(status: u16, kind: &str, reason: &str) -> (u16, Value) {
    (
        status,
        json!({"error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason}, "status": status}),
    )
}

/// The answer to one request.
pub fn handle(
    method: &str,
    path: &str,
    headers: &HashMap<String, String>,
    body: &[u8],
    state: &Mutex<State>,
) -> (u16, Value) {
    let path = path.split('?').next().unwrap_or("");
    let default_index = match path.trim_matches('/').split('/').collect::<Vec<_>>()[..] {
        ["_bulk"] => None,
        [index, "_bulk"] => Some(index.to_string()),
        _ => {
            let reason = format!("no handler found for uri [{path}] and method [{method}]");
            return error(404, "resource_not_found_exception", &reason);
        }
    };
    if method != "POST" && method != "PUT" {
        return error(405, "method_not_allowed", "use POST");
    }
    let content_type = headers.get("content-type").cloned().unwrap_or_default();
    let media = content_type.split(';').next().unwrap_or("").trim();
    if media != "application/x-ndjson" && media != "application/json" {
        return (
            406,
            json!({"error": format!("Content-Type header [{content_type}] is not supported"), "status": 406}),
        );
    }
    let mut s = state.lock().unwrap();
    s.requests += 1;
    if s.faults.fail_requests > 0 {
        s.faults.fail_requests -= 1;
        return error(
            503,
            "unavailable_shards_exception",
            "[logs][0] primary shard is not active",
        );
    }
    let text = String::from_utf8_lossy(body);
    if !text.ends_with('\n') {
        return error(
            400,
            "illegal_argument_exception",
            "The bulk request must be terminated by a newline [\\n]",
        );
    }
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let mut items = Vec::new();
    let mut errors = false;
    while let Some(action_line) = lines.next() {
        let Ok(action) = serde_json::from_str::<Value>(action_line) else {
            return error(
                400,
                "x_content_parse_exception",
                "[1:1] Unexpected character",
            );
        };
        let Some((op, meta)) = action.as_object().and_then(|o| o.iter().next()) else {
            return error(
                400,
                "illegal_argument_exception",
                "Malformed action/metadata line",
            );
        };
        let op = op.clone();
        if op != "create" && op != "index" {
            let reason = format!("Action/metadata line [1] contains an unknown parameter [{op}]");
            return error(400, "illegal_argument_exception", &reason);
        }
        let Some(source_line) = lines.next() else {
            return error(
                400,
                "illegal_argument_exception",
                "The bulk request must be terminated by a newline [\\n]",
            );
        };
        let Some(index) = meta["_index"]
            .as_str()
            .map(str::to_string)
            .or(default_index.clone())
        else {
            return error(
                400,
                "action_request_validation_exception",
                "Validation Failed: 1: index is missing;",
            );
        };
        let id = meta["_id"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("auto-{}", s.docs.len()));
        *s.attempts.entry(id.clone()).or_default() += 1;
        let (status, item) = item(&mut s, &op, &index, &id, source_line);
        if status >= 300 {
            errors = true;
        }
        *s.statuses.entry(status).or_default() += 1;
        items.push(json!({ op: item }));
    }
    (200, json!({"took": 3, "errors": errors, "items": items}))
}

fn item(s: &mut State, op: &str, index: &str, id: &str, source_line: &str) -> (u16, Value) {
    let data_stream = index.starts_with("logs-");
    let backing = if data_stream {
        format!(".ds-{index}-2026.11.25-000001")
    } else {
        index.to_string()
    };
    let fail = |status: u16, kind: &str, reason: String| {
        (
            status,
            json!({"_index": backing, "_id": id, "status": status,
                   "error": {"type": kind, "reason": reason, "index": backing, "shard": "0"}}),
        )
    };
    if s.faults.items_429 > 0 {
        s.faults.items_429 -= 1;
        return fail(
            429,
            "es_rejected_execution_exception",
            "rejected execution of coordinating operation [write queue capacity 10000]".into(),
        );
    }
    let Ok(source) = serde_json::from_str::<Value>(source_line) else {
        return fail(
            400,
            "document_parsing_exception",
            "[1:1] failed to parse".into(),
        );
    };
    if !source.is_object() {
        return fail(
            400,
            "document_parsing_exception",
            "[1:1] source is not an object".into(),
        );
    }
    if data_stream && op != "create" {
        let reason =
            "only write ops with an op_type of create are allowed in data streams".to_string();
        return fail(400, "illegal_argument_exception", reason);
    }
    if data_stream && source.get("@timestamp").is_none() {
        return fail(
            400,
            "document_parsing_exception",
            "[1:2] data stream timestamp field [@timestamp] is missing".into(),
        );
    }
    if let Some(key) = &s.faults.reject_attribute
        && source["attributes"].get(key).is_some()
    {
        let reason = format!(
            "[1:2] failed to parse field [attributes.{key}] of type [long] in document with id '{id}'. Preview of field's value: 'x'"
        );
        return fail(400, "mapper_parsing_exception", reason);
    }
    let k = (index.to_string(), id.to_string());
    let exists = s.docs.contains_key(&k);
    if exists && op == "create" {
        let reason =
            format!("[{id}]: version conflict, document already exists (current version [1])");
        return fail(409, "version_conflict_engine_exception", reason);
    }
    s.docs.insert(k, source);
    let seq_no = s.docs.len();
    let (status, result) = if exists {
        (200, "updated")
    } else {
        (201, "created")
    };
    (
        status,
        json!({"_index": backing, "_id": id, "_version": 1, "result": result,
               "_shards": {"total": 2, "successful": 1, "failed": 0},
               "_seq_no": seq_no, "_primary_term": 1, "status": status}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(body: &str, state: &Mutex<State>) -> (u16, Value) {
        let mut h = HashMap::new();
        h.insert("content-type".into(), "application/x-ndjson".into());
        handle("POST", "/_bulk", &h, body.as_bytes(), state)
    }

    #[test]
    fn create_conflicts_and_faults() {
        let state = Mutex::new(State::default());
        let doc = "{\"create\":{\"_index\":\"logs-dozor-default\",\"_id\":\"a\"}}\n{\"@timestamp\":\"2026-11-25T00:00:00Z\"}\n";
        let (status, v) = bulk(doc, &state);
        assert_eq!((status, v["errors"].clone()), (200, json!(false)));
        assert_eq!(v["items"][0]["create"]["status"], 201);
        let (_, v) = bulk(doc, &state);
        assert_eq!(v["errors"], true);
        assert_eq!(v["items"][0]["create"]["status"], 409);
        assert_eq!(
            v["items"][0]["create"]["error"]["type"],
            "version_conflict_engine_exception"
        );
        let (_, v) = bulk(
            "{\"index\":{\"_index\":\"logs-x-y\",\"_id\":\"b\"}}\n{\"@timestamp\":1}\n",
            &state,
        );
        assert_eq!(v["items"][0]["index"]["status"], 400);
        state.lock().unwrap().faults.fail_requests = 1;
        assert_eq!(bulk(doc, &state).0, 503);
        let mut h = HashMap::new();
        h.insert("content-type".into(), "text/plain".into());
        assert_eq!(handle("POST", "/_bulk", &h, doc.as_bytes(), &state).0, 406);
        assert_eq!(bulk("{\"create\":{\"_id\":\"c\"}}\n{}", &state).0, 400);
    }
}
