//! Bad input (#12 part 6): each error names the instance and the fix, is counted by kind, and
//! the next collection retries.

use super::{collect, instance, rabbitmqctl, value};
use crate::integrations::rabbitmq::{Rabbitmq, config::Password};
use std::time::Duration;

fn kind(r: &mut Rabbitmq) -> (&'static str, String, Vec<dozor_metrics::sample::Sample>) {
    let (s, result) = collect(r);
    let e = result.expect_err("the collection fails");
    (e.kind, e.message, s)
}

#[test]
fn wrong_password_then_fixed_on_the_next_collection() {
    let user = dozor_testkit::unique("dzrmq_user");
    rabbitmqctl(&["add_user", &user, "right-one"]);
    rabbitmqctl(&["set_user_tags", &user, "monitoring"]);
    struct Drop_(String);
    impl Drop for Drop_ {
        fn drop(&mut self) {
            let _ = std::process::Command::new("rabbitmqctl")
                .args(["delete_user", &self.0])
                .output();
        }
    }
    let _d = Drop_(user.clone());
    let mut c = instance("bad", "nothing");
    c.username = user.clone();
    c.password = Password("s3cret-wrong".into());
    let mut r = Rabbitmq::new(&c, Duration::from_secs(5)).unwrap();
    let (k, m, s) = kind(&mut r);
    assert_eq!(k, "auth", "{m}");
    assert!(
        m.starts_with("instance bad: ") && m.contains("check username and password"),
        "{m}"
    );
    assert!(!m.contains("s3cret-wrong"), "{m}");
    assert_eq!(value(&s, "dozor.rabbitmq.up", &["bad"]), Some(0.0));
    rabbitmqctl(&["change_password", &user, "s3cret-wrong"]);
    let (s, result) = collect(&mut r);
    result.expect("the next collection retries and succeeds");
    assert_eq!(value(&s, "dozor.rabbitmq.up", &["bad"]), Some(1.0));
}

#[test]
fn vhost_without_permission() {
    let user = dozor_testkit::unique("dzrmq_np");
    let vhost = dozor_testkit::unique("dzrmq_vh");
    rabbitmqctl(&["add_vhost", &vhost]);
    rabbitmqctl(&["add_user", &user, "pw"]);
    rabbitmqctl(&["set_user_tags", &user, "monitoring"]);
    struct Undo(String, String);
    impl Drop for Undo {
        fn drop(&mut self) {
            let _ = std::process::Command::new("rabbitmqctl")
                .args(["delete_user", &self.0])
                .output();
            let _ = std::process::Command::new("rabbitmqctl")
                .args(["delete_vhost", &self.1])
                .output();
        }
    }
    let _u = Undo(user.clone(), vhost.clone());
    let mut c = instance("np", "x");
    c.username = user.clone();
    c.password = Password("pw".into());
    c.vhosts = vec![vhost.clone()];
    let mut r = Rabbitmq::new(&c, Duration::from_secs(5)).unwrap();
    let (k, m, s) = kind(&mut r);
    assert_eq!(k, "permission", "{m}");
    assert!(
        m.starts_with("instance np: ") && m.contains(&format!("set_permissions -p <vhost> {user}")),
        "{m}"
    );
    // Depth (plugin) and node health still read.
    assert_eq!(value(&s, "dozor.rabbitmq.up", &["np"]), Some(1.0));
    let source = |s: &[dozor_metrics::sample::Sample], src: &str| {
        value(
            s,
            "dozor.agent.scrape.source.success",
            &["rabbitmq/np", src],
        )
    };
    assert_eq!(source(&s, "api_queues"), Some(0.0));
    assert_eq!(source(&s, "prometheus_detailed"), Some(1.0));
    rabbitmqctl(&["set_permissions", "-p", &vhost, &user, "", "", ".*"]);
    let (s, result) = collect(&mut r);
    result.expect("retried after the grant");
    assert_eq!(source(&s, "api_queues"), Some(1.0));
}

#[test]
fn management_plugin_missing_and_nothing_there() {
    let port = dozor_testkit::free_port();
    let mut c = instance("noplug", "x");
    c.management_url = format!("http://127.0.0.1:{port}");
    let mut r = Rabbitmq::new(&c, Duration::from_secs(5)).unwrap();
    let (k, m, _) = kind(&mut r);
    assert_eq!(k, "plugin_missing", "{m}");
    assert!(
        m.contains("rabbitmq-plugins enable rabbitmq_management")
            && m.contains("fix management_url"),
        "{m}"
    );
    c.prometheus_url = c.management_url.clone();
    let mut r = Rabbitmq::new(&c, Duration::from_secs(5)).unwrap();
    let (k, m, _) = kind(&mut r);
    assert_eq!(k, "connect", "{m}");
    // The plugin's URL pointing at the management port: 404.
    let mut c = instance("wrongport", "x");
    c.prometheus_url = "http://127.0.0.1:15672".into();
    let mut r = Rabbitmq::new(&c, Duration::from_secs(5)).unwrap();
    let (k, m, _) = kind(&mut r);
    assert_eq!(k, "not_found", "{m}");
    assert!(m.contains("fix prometheus_url (default port 15692)"), "{m}");
}

#[test]
fn hanging_broker_times_out_below_the_timeout() {
    // Accepts and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut c = instance("hang", "x");
    c.management_url = url.clone();
    c.prometheus_url = url;
    let mut r = Rabbitmq::new(&c, Duration::from_secs(1)).unwrap();
    let t = std::time::Instant::now();
    let (k, m, _) = kind(&mut r);
    assert_eq!(k, "timeout", "{m}");
    assert!(
        m.starts_with("instance hang: ") && m.contains("raise integrations.rabbitmq.timeout"),
        "{m}"
    );
    // Two requests (plugin, nodes) at 0.8 s each.
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    drop(listener);
}
