//! `rabbitmq <name>`: for each configured RabbitMQ instance, the management API accepts the
//! user and the user has the `monitoring` tag (or `administrator`), without which the API hides
//! other users' connections, channels and node statistics. Read from `/api/whoami`.

use super::report::Outcome;
use super::{Check, Ctx, PEER_TIMEOUT, Waiting};
use std::sync::Arc;

/// One check per enabled instance.
pub fn checks(ctx: &Arc<Ctx>) -> Vec<Check> {
    let section = &ctx.config.integrations.rabbitmq;
    if !section.enabled {
        return Vec::new();
    }
    (0..section.instances.len())
        .map(|i| {
            let ctx = ctx.clone();
            let name = section.instances[i].name.clone();
            Check::new(
                format!("rabbitmq {name}"),
                PEER_TIMEOUT,
                move |w| async move { examine(&ctx, i, w).await },
            )
        })
        .collect()
}

async fn examine(ctx: &Ctx, i: usize, w: Waiting) -> Outcome {
    let instance = &ctx.config.integrations.rabbitmq.instances[i];
    let user = &instance.username;
    if instance.management_url.is_empty() {
        return Outcome::skip("no management_url: only the rabbitmq_prometheus endpoint is read");
    }
    let url = format!(
        "{}/api/whoami",
        instance.management_url.trim_end_matches('/')
    );
    w.on(format!("the management API at {url}"));
    let response = super::collector::http_client()
        .get(&url)
        .basic_auth(user, Some(&instance.password.0))
        .send()
        .await;
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            return Outcome::fail(
                format!("cannot reach {url}: {e}"),
                "enable the management plugin (`rabbitmq-plugins enable rabbitmq_management`) and check management_url",
            );
        }
    };
    let status = response.status();
    if status.as_u16() == 401 {
        return Outcome::fail(
            format!("the management API refused user {user} (HTTP 401)"),
            format!(
                "check the username and password of {}; create the user with `rabbitmqctl add_user {user} <password>`",
                instance.name
            ),
        );
    }
    let body = response.text().await.unwrap_or_default();
    let tags = tags(&body);
    if !status.is_success() {
        return Outcome::fail(
            format!("{url} answered HTTP {status}"),
            "check management_url",
        );
    }
    if tags
        .iter()
        .any(|t| t == "monitoring" || t == "administrator")
    {
        Outcome::pass(format!("user {user} has the tags [{}]", tags.join(", ")))
    } else {
        Outcome::fail(
            format!(
                "user {user} has the tags [{}], not monitoring: queues of other users, connections and node statistics stay hidden",
                tags.join(", ")
            ),
            format!("rabbitmqctl set_user_tags {user} monitoring"),
        )
    }
}

/// The tags of a `/api/whoami` answer: a list (3.9 and later) or a comma-separated string.
fn tags(body: &str) -> Vec<String> {
    let value: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    match &value["tags"] {
        serde_json::Value::Array(a) => a
            .iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect(),
        serde_json::Value::String(s) => s
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tags_in_both_shapes() {
        assert_eq!(
            super::tags(r#"{"name":"a","tags":["monitoring"]}"#),
            ["monitoring"]
        );
        assert_eq!(
            super::tags(r#"{"name":"a","tags":"administrator, x"}"#),
            ["administrator", "x"]
        );
        assert!(super::tags(r#"{"name":"a","tags":[]}"#).is_empty());
    }
}
