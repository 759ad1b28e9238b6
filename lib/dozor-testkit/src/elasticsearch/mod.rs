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

mod bulk;

pub use bulk::handle;

use serde_json::Value;
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
            port: crate::proc::free_port(),
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
        listener
            .set_nonblocking(true)
            .expect("setting the fake ES listener non-blocking");
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
