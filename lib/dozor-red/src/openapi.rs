//! The paths of an OpenAPI 3 or Swagger 2 file, as route patterns.

use crate::routes::RoutesError;
use serde_json::Value;
use std::path::Path;

/// The largest OpenAPI file read, bytes.
const MAX_FILE: u64 = 16 << 20;

/// Every key of `paths`, prefixed with the base path: OpenAPI 3's first `servers[].url`
/// path, or Swagger 2's `basePath`.
pub(crate) fn paths(file: &Path) -> Result<Vec<String>, RoutesError> {
    let read = |source| RoutesError::Read {
        path: file.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(file).map_err(read)?;
    let bad = |why: String| RoutesError::OpenApi {
        path: file.to_path_buf(),
        why,
    };
    if meta.len() > MAX_FILE {
        return Err(bad(format!("larger than {} MiB", MAX_FILE >> 20)));
    }
    let text = std::fs::read_to_string(file).map_err(read)?;
    let doc: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(_) => {
            serde_saphyr::from_str(&text).map_err(|e| bad(format!("neither JSON nor YAML: {e}")))?
        }
    };
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return Err(bad("has no `paths` map".into()));
    };
    let base = base_path(&doc);
    Ok(paths
        .keys()
        .map(|p| match base.as_str() {
            "" => p.clone(),
            b => format!("{b}{p}"),
        })
        .collect())
}

fn base_path(doc: &Value) -> String {
    let raw = doc
        .get("servers")
        .and_then(|s| s.get(0))
        .and_then(|s| s.get("url"))
        .or_else(|| doc.get("basePath"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let path = match raw.find("://") {
        Some(i) => raw[i + 3..].find('/').map_or("", |j| &raw[i + 3 + j..]),
        None => raw,
    };
    path.trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use crate::{Routes, RoutesConfig};

    fn load(name: &str, text: &str) -> Result<Routes, crate::RoutesError> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        Routes::new(&RoutesConfig {
            openapi: vec![file],
            ..Default::default()
        })
    }

    #[test]
    fn openapi_3_yaml_paths_with_the_server_base() {
        let r = load(
            "mes.yaml",
            "openapi: 3.0.0\nservers:\n  - url: https://mes.example/api/v1/\npaths:\n  /orders/{orderId}:\n    get: {}\n  /orders/{orderId}/cost:\n    post: {}\n",
        )
        .unwrap();
        assert_eq!(
            r.route("/api/v1/orders/A17/cost"),
            "/api/v1/orders/{orderId}/cost"
        );
        assert_eq!(r.route("/api/v1/orders/A17"), "/api/v1/orders/{orderId}");
    }

    #[test]
    fn swagger_2_json_base_path() {
        let r = load(
            "crm.json",
            r#"{"swagger":"2.0","basePath":"/crm","paths":{"/contacts/{id}":{}}}"#,
        )
        .unwrap();
        assert_eq!(r.route("/crm/contacts/x-1"), "/crm/contacts/{id}");
    }

    #[test]
    fn a_file_without_paths_or_unreadable_is_named() {
        let err = load("x.yaml", "openapi: 3.0.0\n").unwrap_err().to_string();
        assert!(err.contains("x.yaml") && err.contains("paths"), "{err}");
        let err = load("y.yaml", "paths: [").unwrap_err().to_string();
        assert!(
            err.contains("y.yaml") && err.contains("neither JSON nor YAML"),
            "{err}"
        );
        let err = Routes::new(&RoutesConfig {
            openapi: vec!["/nonexistent/api.yaml".into()],
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("/nonexistent/api.yaml"), "{err}");
    }
}
