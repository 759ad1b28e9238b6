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
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let body = resp.bytes().await?;
            Ok::<_, reqwest::Error>((status, body))
        });
        match result {
            Ok((200, body)) => Ok(body.to_vec()),
            Ok((status, body)) => Err(explain_status(
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
