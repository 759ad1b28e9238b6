//! TLS against real servers: the shared one (`ssl = on` with Debian's snakeoil certificate,
//! self-signed for `localhost`) for each `sslmode`, and a cluster of the test's own without TLS
//! for a server that refuses it.

use super::cluster::Cluster;
use super::{collect, instance, integration};
use crate::integrations::db;
use crate::integrations::db::tls::Mode;
use dozor_testkit::pg::START as START_SHARED;

const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

/// Connects with `dsn` as the agent does; whether the session is encrypted.
fn encrypted(dsn: &str) -> Result<bool, String> {
    let d = db::pg::parse(dsn)?;
    let mut client = db::pg::connect(&d.config, &d.tls).map_err(|e| {
        db::pg::tls_problem(&e, &d.tls).unwrap_or_else(|| format!("not a TLS problem: {e:?}"))
    })?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .map_err(|e| e.to_string())?;
    Ok(row.get(0))
}

fn snakeoil() -> &'static str {
    assert!(
        std::path::Path::new(SNAKEOIL).exists(),
        "{SNAKEOIL} is missing: apt-get install ssl-cert (and ssl = on in postgresql.conf)"
    );
    SNAKEOIL
}

#[test]
fn each_sslmode_against_the_shared_server() {
    let shared = "host=127.0.0.1 port=5432 user=postgres dbname=postgres";
    let on = encrypted(&format!("{shared} sslmode=require")).unwrap_or_else(|e| {
        panic!("shared PostgreSQL on 127.0.0.1:5432 ({e}); start it: {START_SHARED}")
    });
    assert!(
        on,
        "sslmode=require gave an unencrypted session: is ssl = on?"
    );
    assert_eq!(encrypted(&format!("{shared} sslmode=disable")), Ok(false));
    // prefer, libpq's default.
    assert_eq!(encrypted(shared), Ok(true));
    assert_eq!(encrypted(&format!("{shared} sslmode=allow")), Ok(false));
    // The URL form carries the same parameters.
    assert_eq!(
        encrypted("postgresql://postgres@127.0.0.1:5432/postgres?sslmode=require"),
        Ok(true)
    );

    // The snakeoil certificate names localhost only.
    let root = snakeoil();
    let full = |host: &str| {
        format!(
            "host={host} port=5432 user=postgres dbname=postgres sslmode=verify-full sslrootcert={root}"
        )
    };
    assert_eq!(encrypted(&full("localhost")), Ok(true));
    let wrong = encrypted(&full("127.0.0.1")).unwrap_err();
    assert!(
        wrong.contains("not valid for the host name") && wrong.contains("sslmode=verify-ca"),
        "{wrong}"
    );
    let chain_only = format!("{shared} sslmode=verify-ca sslrootcert={root}");
    assert_eq!(encrypted(&chain_only), Ok(true));
    // require with a root checks the chain, as libpq does.
    assert_eq!(
        encrypted(&format!("{shared} sslmode=require sslrootcert={root}")),
        Ok(true)
    );

    let dir = tempfile::tempdir().unwrap();
    let other = db::testing::certs(dir.path(), "other", &["localhost"]);
    let untrusted = format!(
        "{shared} sslmode=verify-ca sslrootcert={}",
        other.ca.display()
    );
    let e = encrypted(&untrusted).unwrap_err();
    assert!(
        e.contains("not signed by a CA in sslrootcert")
            && e.contains(&other.ca.display().to_string())
            && e.contains("sslmode=require"),
        "{e}"
    );
    // The same through the integration: kind tls, the instance and target named.
    let mut p = integration(&instance("shop", &untrusted));
    let (_, result) = collect(&mut p);
    let e = result.unwrap_err();
    assert_eq!(e.kind, "tls", "{e}");
    assert!(
        e.message
            .starts_with("instance shop: cannot connect to host=127.0.0.1 port=5432 user=postgres dbname=postgres sslmode=verify-ca: the server's certificate is not signed"),
        "{e}"
    );
}

#[test]
fn a_server_without_tls() {
    let cluster = Cluster::primary("ssl = off", &[]);
    let dsn = cluster.dsn();
    assert_eq!(encrypted(&dsn), Ok(false), "prefer falls back to plain");
    let mut p = integration(&instance("plain", &format!("{dsn} sslmode=require")));
    let (_, result) = collect(&mut p);
    let e = result.unwrap_err();
    assert_eq!(e.kind, "tls", "{e}");
    assert!(
        e.message
            .contains("the server does not offer TLS but the DSN has sslmode=require")
            && e.message.contains("use sslmode=prefer"),
        "{e}"
    );
}

#[test]
fn a_missing_root_file_is_a_config_error_and_a_connect_error() {
    let text = "integrations:\n  postgresql:\n    enabled: true\n    instances:\n      - name: shop\n        dsn: host=db1 password=hunter2 sslmode=verify-full sslrootcert=/nonexistent/ca.pem\n";
    let e = crate::integrations::testing::load::<super::Config>(text).unwrap_err();
    assert!(
        e.contains("agent.yaml:6:9: integrations.postgresql.instances[0].dsn: sslrootcert /nonexistent/ca.pem: cannot read: No such file"),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "{e}");
    // Had it got past validation (the file removed since), connecting says the same.
    let d = db::pg::parse(
        "host=127.0.0.1 user=postgres sslmode=verify-ca sslrootcert=/nonexistent/ca.pem",
    )
    .unwrap();
    assert_eq!(d.tls.mode, Mode::VerifyCa);
    let e = db::pg::connect(&d.config, &d.tls).err().unwrap();
    let why = db::pg::tls_problem(&e, &d.tls).unwrap();
    assert!(
        why.contains("sslrootcert /nonexistent/ca.pem: cannot read")
            && why.contains("fix the path"),
        "{why}"
    );
}
