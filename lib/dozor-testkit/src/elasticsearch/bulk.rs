//! The bulk API itself: one request's NDJSON checked and answered item by item, as
//! Elasticsearch 8 answers it, with the faults of [`super::Faults`] injected.

use super::State;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;

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
