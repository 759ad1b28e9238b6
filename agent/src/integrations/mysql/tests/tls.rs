//! TLS against real servers: a MariaDB of the test's own started with certificates made here
//! (CA, and a server certificate for `localhost`), and the shared one on :3306, which has TLS
//! off (`have_ssl = DISABLED`).

use super::server::Server;
use super::{TIMEOUT, collect, instance};
use crate::integrations::db;
use crate::integrations::mysql::Mysql;
use mysql::prelude::Queryable;

/// Connects with `dsn` as the agent does; the session's cipher, empty when unencrypted.
fn cipher(dsn: &str) -> Result<String, String> {
    let d = db::my::parse(dsn)?;
    let opts = mysql::OptsBuilder::from_opts(d.opts).prefer_socket(false);
    let mut connector = db::my::Connector::new(opts, &d.tls);
    let mut conn = connector.connect().map_err(|e| {
        connector
            .tls_problem(&e)
            .unwrap_or_else(|| format!("not a TLS problem: {e:?}"))
    })?;
    let row: Option<(String, String)> = conn
        .query_first("SHOW STATUS LIKE 'Ssl_cipher'")
        .map_err(|e| e.to_string())?;
    Ok(row.map(|(_, v)| v).unwrap_or_default())
}

#[test]
fn each_ssl_mode_against_a_server_with_tls() {
    let dir = tempfile::tempdir().unwrap();
    let server_certs = db::testing::certs(dir.path(), "server", &["localhost"]);
    let other = db::testing::certs(dir.path(), "other", &["localhost"]);
    let server = Server::start_with(
        1,
        &[
            format!("--ssl-ca={}", server_certs.ca.display()),
            format!("--ssl-cert={}", server_certs.cert.display()),
            format!("--ssl-key={}", server_certs.key.display()),
        ],
    );
    let at = |host: &str, query: &str| format!("mysql://root@{host}:{}/?{query}", server.port);
    let ca = server_certs.ca.display().to_string();

    assert_ne!(cipher(&at("127.0.0.1", "ssl-mode=REQUIRED")).unwrap(), "");
    assert_ne!(
        cipher(&at("127.0.0.1", "")).unwrap(),
        "",
        "PREFERRED encrypts"
    );
    assert_eq!(cipher(&at("127.0.0.1", "ssl-mode=DISABLED")).unwrap(), "");
    assert_ne!(
        cipher(&at(
            "localhost",
            &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}")
        ))
        .unwrap(),
        ""
    );
    assert_ne!(
        cipher(&at("127.0.0.1", &format!("ssl-mode=VERIFY_CA&ssl-ca={ca}"))).unwrap(),
        ""
    );
    let wrong_name = cipher(&at(
        "127.0.0.1",
        &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"),
    ))
    .unwrap_err();
    assert!(
        wrong_name.contains("not valid for the host name")
            && wrong_name.contains("ssl-mode=VERIFY_CA"),
        "{wrong_name}"
    );
    let untrusted = at(
        "127.0.0.1",
        &format!("ssl-mode=VERIFY_CA&ssl-ca={}", other.ca.display()),
    );
    let e = cipher(&untrusted).unwrap_err();
    assert!(
        e.contains("not signed by a CA in ssl-ca") && e.contains("ssl-mode=REQUIRED"),
        "{e}"
    );
    // Through the integration: kind tls, the instance and target named.
    let mut m = Mysql::new(&instance("mes", &untrusted), TIMEOUT).unwrap();
    let (_, result) = collect(&mut m);
    let e = result.unwrap_err();
    assert_eq!(e.kind, "tls", "{e}");
    assert!(
        e.message.starts_with(&format!(
            "instance mes: cannot connect to root@127.0.0.1:{}/?ssl-mode=VERIFY_CA: the server's certificate is not signed",
            server.port
        )),
        "{e}"
    );
}

#[test]
fn the_shared_server_without_tls() {
    let shared = "mysql://root@127.0.0.1:3306/";
    let plain = cipher(shared).unwrap_or_else(|e| {
        panic!("shared MariaDB on 127.0.0.1:3306 ({e}); start it: service mariadb start")
    });
    assert_eq!(plain, "", "PREFERRED falls back to plain");
    let mut m = Mysql::new(
        &instance("mes", &format!("{shared}?ssl-mode=REQUIRED")),
        TIMEOUT,
    )
    .unwrap();
    let (_, result) = collect(&mut m);
    let e = result.unwrap_err();
    assert_eq!(e.kind, "tls", "{e}");
    assert!(
        e.message
            .contains("the server does not offer TLS but the DSN has ssl-mode=REQUIRED")
            && e.message.contains("use ssl-mode=PREFERRED"),
        "{e}"
    );
}

#[test]
fn a_missing_ca_file_is_a_config_error() {
    let text = "integrations:\n  mysql:\n    enabled: true\n    instances:\n      - name: mes\n        dsn: mysql://dozor:hunter2@db1/?ssl-mode=VERIFY_CA&ssl-ca=/nonexistent/ca.pem\n";
    let e = crate::integrations::testing::load::<super::super::Config>(text).unwrap_err();
    assert!(
        e.contains("agent.yaml:6:9: integrations.mysql.instances[0].dsn: ssl-ca /nonexistent/ca.pem: cannot read: No such file"),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "{e}");
}
