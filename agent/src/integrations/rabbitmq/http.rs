//! The HTTP client of one instance: reqwest on a current-thread runtime of the integration's
//! own (the integration runs on a blocking thread, like the `postgres` crate's), every request
//! under a timeout below the integration's, and the errors turned into [`IntegrationError`]s
//! naming the instance and the fix.

use super::super::IntegrationError;
use std::time::Duration;

/// Which API a request goes to: it decides the fix an error message names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// The management API (`management_url`, with credentials).
    Management,
    /// The `rabbitmq_prometheus` plugin (`prometheus_url`, no credentials).
    Prometheus,
}

/// The longest answer read: a page of 500 queues from the management API with the columns
/// asked is about 0.5 MiB, the plugin's queue families for 10,000 queues a few MiB. A broker
/// (or whatever answers on its port) sending more costs the agent no more than this.
pub const MAX_BODY: usize = 64 << 20;

/// The client of one instance.
pub struct Http {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
    instance: String,
    username: String,
    password: String,
    timeout: Duration,
}

impl Http {
    /// A client whose every request (connect to last byte) has `timeout`.
    pub fn new(
        instance: &str,
        username: &str,
        password: &str,
        timeout: Duration,
    ) -> Result<Http, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("runtime: {e}"))?;
        // main installs ring for every TLS client; tests and `collect --once` may not have.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Http {
            rt,
            client,
            instance: instance.into(),
            username: username.into(),
            password: password.into(),
            timeout,
        })
    }

    /// GET `base` + `path`, the body of a 200 answer.
    pub fn get(&self, api: Api, base: &str, path: &str) -> Result<Vec<u8>, IntegrationError> {
        let url = format!("{}{path}", base.trim_end_matches('/'));
        let mut req = self.client.get(&url);
        if api == Api::Management {
            req = req.basic_auth(&self.username, Some(&self.password));
        }
        let result = self.rt.block_on(async {
            let mut resp = req.send().await?;
            let status = resp.status().as_u16();
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await? {
                if body.len() + chunk.len() > MAX_BODY {
                    return Ok((status, None));
                }
                body.extend_from_slice(&chunk);
            }
            Ok::<_, reqwest::Error>((status, Some(body)))
        });
        match result {
            Ok((_, None)) => Err(IntegrationError::new(
                "too_large",
                format!(
                    "instance {}: GET {} answered more than {} MiB, left unread: narrow vhosts or include, or check what answers on that port",
                    self.instance,
                    short(&url),
                    MAX_BODY >> 20
                ),
            )),
            Ok((200, Some(body))) => Ok(body),
            Ok((status, Some(body))) => Err(explain_status(
                &self.instance,
                api,
                &url,
                &self.username,
                status,
                &String::from_utf8_lossy(&body[..body.len().min(200)]),
            )),
            Err(e) => Err(explain_transport(
                &self.instance,
                api,
                &url,
                self.timeout,
                &e,
            )),
        }
    }
}

/// The URL without its query, for messages.
fn short(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// What enables the plugin behind `api`.
fn plugin(api: Api) -> (&'static str, &'static str) {
    match api {
        Api::Management => ("rabbitmq_management", "management_url"),
        Api::Prometheus => ("rabbitmq_prometheus", "prometheus_url"),
    }
}

/// An error before any HTTP status: no connection, or no answer in time.
pub fn explain_transport(
    instance: &str,
    api: Api,
    url: &str,
    timeout: Duration,
    e: &reqwest::Error,
) -> IntegrationError {
    let (plugin, key) = plugin(api);
    let url = short(url);
    if e.is_timeout() {
        return IntegrationError::new(
            "timeout",
            format!(
                "instance {instance}: GET {url} got no answer within {:.1} s (80% of the integration's timeout): the broker hangs or is overloaded; check it (rabbitmq-diagnostics status), or raise integrations.rabbitmq.timeout",
                timeout.as_secs_f64()
            ),
        );
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    IntegrationError::new(
        "connect",
        format!(
            "instance {instance}: cannot connect to {url}: {text}: check that RabbitMQ runs there with the {plugin} plugin enabled (rabbitmq-plugins enable {plugin}), or fix {key}"
        ),
    )
}

/// An HTTP answer other than 200.
pub fn explain_status(
    instance: &str,
    api: Api,
    url: &str,
    user: &str,
    status: u16,
    body: &str,
) -> IntegrationError {
    let (plugin, key) = plugin(api);
    let url = short(url);
    let e = |kind, m: String| IntegrationError::new(kind, format!("instance {instance}: {m}"));
    match (api, status) {
        (Api::Management, 401) if body.contains("Login failed") => e(
            "auth",
            format!(
                "{url} refused user {user} (401 Login failed): check username and password (rabbitmqctl authenticate_user {user} ...); guest may log in from loopback only"
            ),
        ),
        (Api::Management, 401 | 403) => e(
            "permission",
            format!(
                "{url} refused user {user} ({status} {}): give it the monitoring tag and read permission on the vhost (rabbitmqctl set_user_tags {user} monitoring; rabbitmqctl set_permissions -p <vhost> {user} '' '' '.*')",
                body.trim()
            ),
        ),
        (Api::Management, 404)
            if url.contains("/api/queues/") || url.contains("/api/exchanges/") =>
        {
            e(
                "not_found",
                format!("{url} answered 404: a vhost in vhosts does not exist; fix vhosts"),
            )
        }
        (_, 404) => e(
            "not_found",
            format!(
                "{url} answered 404: it is not the {plugin} plugin's endpoint; fix {key} (default port {})",
                if api == Api::Management { 15672 } else { 15692 }
            ),
        ),
        _ => e("http", format!("{url} answered {status}: {}", body.trim())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer that answers 200 with an endless body: the read stops past [`MAX_BODY`] with a
    /// `too_large` error, the agent holding no more than that.
    #[test]
    fn an_oversized_answer_is_refused_not_buffered() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut request = [0u8; 4096];
            let _ = s.read(&mut request);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n");
            let chunk = vec![b'#'; 1 << 20];
            for _ in 0..(MAX_BODY >> 20) + 8 {
                if s.write_all(&chunk).is_err() {
                    return;
                }
            }
        });
        let http = Http::new("orders", "", "", Duration::from_secs(20)).unwrap();
        let e = http
            .get(
                Api::Prometheus,
                &format!("http://127.0.0.1:{port}"),
                "/metrics",
            )
            .unwrap_err();
        assert_eq!(e.kind, "too_large", "{e}");
        assert!(
            e.message
                .starts_with("instance orders: GET http://127.0.0.1:"),
            "{e}"
        );
        drop(http);
        server.join().unwrap();
    }

    #[test]
    fn statuses_name_the_instance_and_the_fix() {
        let m = Api::Management;
        let u = "http://h:15672/api/queues?page=1";
        let e = explain_status(
            "orders",
            m,
            u,
            "dozor",
            401,
            r#"{"error":"not_authorized","reason":"Login failed"}"#,
        );
        assert_eq!(e.kind, "auth");
        assert!(
            e.message
                .starts_with("instance orders: http://h:15672/api/queues refused user dozor"),
            "{}",
            e.message
        );
        let e = explain_status(
            "orders",
            m,
            u,
            "dozor",
            401,
            r#"{"error":"not_authorized","reason":"Not management user"}"#,
        );
        assert_eq!(e.kind, "permission");
        assert!(
            e.message.contains("set_user_tags dozor monitoring"),
            "{}",
            e.message
        );
        let e = explain_status("orders", m, "http://h/api/queues/nope", "dozor", 404, "");
        assert_eq!(e.kind, "not_found");
        assert!(e.message.contains("fix vhosts"));
        let e = explain_status(
            "orders",
            Api::Prometheus,
            "http://h:15672/metrics/detailed",
            "",
            404,
            "",
        );
        assert!(
            e.message
                .contains("fix prometheus_url (default port 15692)"),
            "{}",
            e.message
        );
    }
}
