//! The `_bulk` wire format: the NDJSON request and the per-item response.
//!
//! Request: for each document an action line `{"create":{"_index":…,"_id":…}}` and its source,
//! each ending in `\n` (the last line too), sent as `Content-Type: application/x-ndjson`.
//! `create` because data streams accept nothing else, and because it turns a redelivered
//! document into a 409 instead of a second copy.
//!
//! Response (HTTP 200 even when items failed): `{"took":…,"errors":bool,"items":[{"create":
//! {"_index":…,"_id":…,"status":201,…}}, {"create":{…,"status":409,"error":{"type":
//! "version_conflict_engine_exception","reason":…}}}]}`, one item per action, in order.

use super::document::Document;
use serde_json::Value;

/// What became of one item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// 2xx.
    Indexed,
    /// 409: a document with this `_id` exists.
    Duplicate,
    /// 429 or 5xx: send again later.
    Retry {
        /// The item's status.
        status: u16,
    },
    /// Any other status: Elasticsearch will never take it.
    Rejected {
        /// The item's status.
        status: u16,
        /// `error.type`.
        error_type: String,
        /// `error.reason`.
        reason: String,
    },
}

/// Appends the action and source lines of `doc` to `body`.
pub fn append(body: &mut Vec<u8>, index: &str, doc: &Document) {
    // Written by hand for a fixed key order; strings are escaped by serde_json.
    let quote = |s: &str| Value::from(s).to_string();
    body.extend_from_slice(b"{\"create\":{\"_index\":");
    body.extend_from_slice(quote(index).as_bytes());
    body.extend_from_slice(b",\"_id\":");
    body.extend_from_slice(quote(&doc.id).as_bytes());
    body.extend_from_slice(b"}}\n");
    // Serialising a Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *body, &doc.source);
    body.push(b'\n');
}

/// The bytes `doc` adds to a request body.
pub fn encoded_len(index: &str, doc: &Document) -> usize {
    let mut v = Vec::new();
    append(&mut v, index, doc);
    v.len()
}

/// The outcome of each of `expected` items of a 200 response; an error when the response is
/// not a bulk response for that many items (then the whole request is retried).
pub fn parse_response(body: &[u8], expected: usize) -> Result<Vec<Item>, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("bulk response is not JSON: {e}"))?;
    let items = v
        .get("items")
        .and_then(Value::as_array)
        .ok_or("bulk response without items")?;
    if items.len() != expected {
        return Err(format!(
            "bulk response has {} items for {expected} documents",
            items.len()
        ));
    }
    items
        .iter()
        .map(|item| {
            let result = item
                .as_object()
                .and_then(|o| o.values().next())
                .ok_or("bulk item is not an object")?;
            let status = result
                .get("status")
                .and_then(Value::as_u64)
                .ok_or("bulk item without status")? as u16;
            let field = |k: &str| {
                result
                    .get("error")
                    .and_then(|e| e.get(k))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            Ok(match status {
                200..=299 => Item::Indexed,
                409 => Item::Duplicate,
                429 | 500..=599 => Item::Retry { status },
                _ => Item::Rejected {
                    status,
                    error_type: field("type"),
                    reason: field("reason"),
                },
            })
        })
        .collect()
}

/// A short description of an error response body (`error.type: error.reason`), for the log.
pub fn error_summary(body: &[u8]) -> String {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => return String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    };
    let e = &v["error"];
    match (e["type"].as_str(), e["reason"].as_str()) {
        (Some(t), Some(r)) => format!("{t}: {r}"),
        _ => v.to_string().chars().take(200).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn body_is_ndjson_with_create_actions() {
        let mut body = Vec::new();
        let doc = Document {
            id: "e1".into(),
            source: json!({"a": 1}),
        };
        append(&mut body, "logs-dozor-default", &doc);
        assert_eq!(
            String::from_utf8(body.clone()).unwrap(),
            "{\"create\":{\"_index\":\"logs-dozor-default\",\"_id\":\"e1\"}}\n{\"a\":1}\n"
        );
        assert_eq!(encoded_len("logs-dozor-default", &doc), body.len());
    }

    #[test]
    fn items_are_classified() {
        let response = br#"{"took":3,"errors":true,"items":[
            {"create":{"_index":".ds-logs-dozor-default-2026.11.25-000001","_id":"a","_version":1,"result":"created","status":201}},
            {"create":{"_index":".ds-logs-dozor-default-2026.11.25-000001","_id":"b","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[b]: version conflict, document already exists (current version [1])"}}},
            {"create":{"_id":"c","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution"}}},
            {"create":{"_id":"d","status":400,"error":{"type":"document_parsing_exception","reason":"[1:2] failed to parse field [attributes.x]"}}},
            {"index":{"_id":"e","status":503,"error":{"type":"unavailable_shards_exception","reason":"primary shard is not active"}}}
        ]}"#;
        let items = parse_response(response, 5).unwrap();
        assert_eq!(
            items,
            [
                Item::Indexed,
                Item::Duplicate,
                Item::Retry { status: 429 },
                Item::Rejected {
                    status: 400,
                    error_type: "document_parsing_exception".into(),
                    reason: "[1:2] failed to parse field [attributes.x]".into()
                },
                Item::Retry { status: 503 },
            ]
        );
        assert!(parse_response(response, 4).is_err());
        assert!(parse_response(b"<html>", 1).is_err());
        assert_eq!(
            error_summary(br#"{"error":{"type":"security_exception","reason":"missing authentication credentials"},"status":401}"#),
            "security_exception: missing authentication credentials"
        );
    }
}
