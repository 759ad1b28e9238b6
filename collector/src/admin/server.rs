//! The admin endpoint's HTTP server, on the collector's own HTTP/1 stack
//! (`receivers::conn::serve_http`): `GET /v1/status` and `GET /v1/health`. Read-only: another
//! method is 405; with `admin.token_file` a request without the token is 401. Bounded: a few
//! connections, short timeouts, no request body read, and a snapshot that takes longer than
//! [`SNAPSHOT_TIMEOUT`] is a 503 instead of a hung request.

use super::snapshot::{self, Context};
use crate::receivers::Pipeline;
use crate::receivers::conn::{self, Conns, Limits};
use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode, header};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// Longest a status snapshot may take before the request is answered 503.
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(2);

/// Connections and timeouts of the admin endpoint: a CLI asks once a second at most.
pub const LIMITS: Limits = Limits {
    max: 32,
    max_per_address: 16,
    header_read_timeout: Duration::from_secs(5),
    body_read_timeout: Duration::from_secs(5),
    idle_timeout: Duration::from_secs(30),
};

/// Why the admin endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// `admin.token_file` unreadable or too short.
    #[error("admin.token_file {path}: {why}")]
    Token {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
}

#[derive(Clone)]
struct Admin {
    pipeline: Pipeline,
    context: Arc<Context>,
    token: Option<Arc<[u8]>>,
}

/// Reads `admin.token_file` (surrounding whitespace dropped; at least 16 characters).
pub fn token(path: &str) -> Result<Option<Arc<[u8]>>, AdminError> {
    if path.is_empty() {
        return Ok(None);
    }
    let err = |why: String| AdminError::Token {
        path: path.to_string(),
        why,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let token = text.trim();
    if token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(err(
            "the token must be at least 16 printable characters without spaces".into(),
        ));
    }
    Ok(Some(Arc::from(token.as_bytes())))
}

/// The router.
pub fn router(pipeline: Pipeline, context: Context, token: Option<Arc<[u8]>>) -> Router {
    let state = Admin {
        pipeline,
        context: Arc::new(context),
        token,
    };
    Router::new()
        .route("/v1/status", axum::routing::any(status))
        .route("/v1/health", axum::routing::any(health))
        .fallback(not_found)
        .with_state(state)
}

/// Serves `router` on `listener` until `stop` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    pipeline: &Pipeline,
    router: Router,
    stop: impl Future<Output = ()>,
) {
    let conns = Conns::new(None, pipeline.telemetry.clone(), LIMITS);
    conn::serve_http(conn::Plain { listener, conns }, router, stop).await;
}

/// 405 for anything but GET, 401 without the token; `None` when the request may go on.
fn refuse(admin: &Admin, request: &Request) -> Option<Response> {
    if request.method() != Method::GET {
        return Some(
            (
                StatusCode::METHOD_NOT_ALLOWED,
                [(header::ALLOW, "GET")],
                "read-only: only GET\n",
            )
                .into_response(),
        );
    }
    let token = admin.token.as_ref()?;
    let sent = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    match sent {
        Some(s) if bool::from(s.ct_eq(token)) => None,
        _ => Some(
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "authorization: Bearer <admin token> missing or wrong\n",
            )
                .into_response(),
        ),
    }
}

async fn status(State(admin): State<Admin>, request: Request) -> Response {
    if let Some(r) = refuse(&admin, &request) {
        return r;
    }
    let (p, cx) = (admin.pipeline.clone(), admin.context.clone());
    let built = tokio::time::timeout(
        SNAPSHOT_TIMEOUT,
        tokio::task::spawn_blocking(move || snapshot::build(&p, &cx)),
    )
    .await;
    match built {
        Ok(Ok(s)) => match serde_json::to_vec(&s) {
            Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        },
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the status snapshot did not complete in time\n",
        )
            .into_response(),
    }
}

async fn health(State(admin): State<Admin>, request: Request) -> Response {
    match refuse(&admin, &request) {
        Some(r) => r,
        None => "ok\n".into_response(),
    }
}

async fn not_found(State(admin): State<Admin>, request: Request) -> Response {
    match refuse(&admin, &request) {
        Some(r) => r,
        None => (
            StatusCode::NOT_FOUND,
            "no such path: GET /v1/status or /v1/health\n",
        )
            .into_response(),
    }
}
