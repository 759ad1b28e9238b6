//! `integrations.postgresql`: which instances to watch and what to read from each.

use super::Postgresql;
use crate::integrations::db;
pub use crate::integrations::db::Dsn;
use crate::integrations::{Context, Instance, Instances, Integration};
use dozor_config::At;
use serde::Deserialize;

/// `integrations.postgresql`: the servers to watch under `instances`, each on its own
/// connection and schedule. The session's `statement_timeout` is 80% of the timeout, and the
/// connect timeout half of it.
pub type Config = Instances<InstanceConfig>;

/// One PostgreSQL server. The role needs `pg_monitor` (`GRANT pg_monitor TO dozor`), and
/// `pg_stat_statements` must be preloaded and created in the DSN's database for statement
/// metrics. TLS as libpq does it, from the DSN's `sslmode`, `sslrootcert`, `sslcert` and `sslkey`.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[cfg_attr(test, schemars(rename = "PostgresqlInstanceConfig"))]
#[serde(default)]
pub struct InstanceConfig {
    /// The `postgresql.instance` attribute of every series, e.g. `shop` or `shop-replica`;
    /// unique among the instances.
    pub name: String,
    /// Connection string, key/value (`host=127.0.0.1 port=5432 user=dozor dbname=postgres
    /// password=${PG_PASSWORD} sslmode=verify-full sslrootcert=/etc/dozor/pg-ca.pem`) or URL
    /// (`postgresql://dozor@127.0.0.1:5432/postgres?sslmode=require`). Never logged: messages
    /// show it without its password.
    pub dsn: Dsn,
    /// Per-statement metrics from `pg_stat_statements`.
    pub statements: StatementsConfig,
    /// Replication delay measured with heartbeat rows.
    pub heartbeat: HeartbeatConfig,
    /// Databases reported one by one (the first by OID); the rest are summed into
    /// `postgresql.database.name="other"`.
    pub max_databases: usize,
    /// Per-table statistics (`postgresql.table.size`, `postgresql.rows`, ...) of the DSN's
    /// database. Off by default: it sizes every table on every collection, and its series grow
    /// with the tables.
    pub table_stats: bool,
    /// Tables reported with `table_stats`, the largest first.
    pub max_tables: usize,
}

impl Default for InstanceConfig {
    fn default() -> Self {
        InstanceConfig {
            name: String::new(),
            dsn: Dsn::default(),
            statements: StatementsConfig::default(),
            heartbeat: HeartbeatConfig::default(),
            max_databases: 100,
            table_stats: false,
            max_tables: 100,
        }
    }
}

/// `pg_stat_statements` settings. No query text is ever exported: statements are labelled by
/// `queryid` only.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[cfg_attr(test, schemars(rename = "PostgresqlStatementsConfig"))]
#[serde(default)]
pub struct StatementsConfig {
    /// Read `pg_stat_statements` when it is installed. A missing extension is no failure: the
    /// rest is collected, no error is counted, and the agent logs once (WARN) how to install it.
    pub enabled: bool,
    /// Statements reported one by one, by total execution time; the rest are summed into
    /// `postgresql.queryid="other"`.
    pub top_n: usize,
}

impl Default for StatementsConfig {
    fn default() -> Self {
        StatementsConfig {
            enabled: true,
            top_n: 20,
        }
    }
}

/// Heartbeat: the agent writes the time into a table on the primary and reads it back on the
/// replica, so the replica's delay stays true while the primary is idle and a broken replica
/// never reads as up to date.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[cfg_attr(test, schemars(rename = "PostgresqlHeartbeatConfig"))]
#[serde(default)]
pub struct HeartbeatConfig {
    /// Off by default: it needs a table the role may create and write on the primary.
    pub enabled: bool,
    /// Table for the heartbeat rows (`[schema.]name`, lower case), created on the primary if
    /// missing: `CREATE TABLE dozor_heartbeat (id text PRIMARY KEY, ts timestamptz NOT NULL)`.
    pub table: String,
    /// On a replica: the primary to write heartbeats to. Unset, a primary instance writes into
    /// its own server and a replica instance only reads what its primary's agent wrote (the
    /// delay then includes up to one of that agent's intervals).
    pub primary_dsn: Option<Dsn>,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        HeartbeatConfig {
            enabled: false,
            table: "dozor_heartbeat".into(),
            primary_dsn: None,
        }
    }
}

/// The largest `statements.top_n` accepted.
pub const MAX_TOP_N: usize = 1000;

impl Instance for InstanceConfig {
    const LIST: &'static str = "instances";
    const NOUN: &'static str = "instance";
    const LABEL: &'static str = "postgresql.instance";

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self, at: &mut At<'_>) {
        db::check(at, "dsn", self.dsn.postgres(), |d| &d.tls);
        if self.statements.top_n == 0 || self.statements.top_n > MAX_TOP_N {
            at.error("statements.top_n", format!("must be from 1 to {MAX_TOP_N}"));
        }
        at.at_least("max_databases", self.max_databases, 1);
        at.at_least("max_tables", self.max_tables, 1);
        if !valid_table(&self.heartbeat.table) {
            at.error(
                "heartbeat.table",
                "must be a lower-case name or schema.name (letters, digits, _)",
            );
        }
        if let Some(dsn) = &self.heartbeat.primary_dsn {
            db::check(at, "heartbeat.primary_dsn", dsn.postgres(), |d| &d.tls);
        }
    }

    fn build(&self, timeout: std::time::Duration, ctx: &Context) -> Option<Box<dyn Integration>> {
        let integration = Postgresql::new(self, timeout).keep_state(&ctx.state_dir, ctx.save_state);
        Some(Box::new(integration))
    }
}

/// A table name that is safe to put into SQL unquoted.
pub fn valid_table(name: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && p.len() <= 63
            && p.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() <= 2 && parts.iter().all(|p| part(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, String> {
        crate::integrations::testing::load(text)
    }

    #[test]
    fn dsn_is_never_shown_with_its_password() {
        let key_value = Dsn("host=db1 port=6432 user=dozor password=s3cret dbname=shop".into());
        assert_eq!(
            key_value.redacted(),
            "host=db1 port=6432 user=dozor dbname=shop"
        );
        let url = Dsn("postgresql://dozor:s3cret@db1:5433/shop".into());
        assert_eq!(url.redacted(), "host=db1 port=5433 user=dozor dbname=shop");
        assert!(!format!("{url:?}").contains("s3cret"));
        let broken = Dsn("postgresql://dozor:s3cret@db1:notaport/shop".into());
        assert_eq!(format!("{broken:?}"), "Dsn(\"<invalid DSN>\")");
        assert!(!broken.postgres().unwrap_err().contains("s3cret"));
    }

    #[test]
    fn defaults_and_validation() {
        let c = load(
            "integrations:\n  postgresql:\n    enabled: true\n    instances:\n      - name: shop\n        dsn: host=127.0.0.1 user=dozor\n",
        )
        .unwrap();
        let i = &c.instances[0];
        assert!(i.statements.enabled && i.statements.top_n == 20 && i.max_databases == 100);
        assert!(!i.heartbeat.enabled && i.heartbeat.table == "dozor_heartbeat");
        assert!(!i.table_stats && i.max_tables == 100);

        let text = "\
integrations:
  postgresql:
    enabled: true
    interval: 0s
    instances:
      - name: shop
        dsn: host=127.0.0.1 user=dozor
      - name: shop
        dsn: port=x password=hunter2
        statements: {top_n: 0}
        max_databases: 0
        heartbeat: {enabled: true, table: 'x; DROP TABLE y', primary_dsn: 'postgresql://a:hunter2@h:p/x'}
      - name: other
        dsn: ''
        dns: typo
";
        let e = load(text).unwrap_err();
        let lines: Vec<&str> = e.lines().collect();
        for want in [
            "agent.yaml:4:5: integrations.postgresql.interval: must be greater than 0s",
            "agent.yaml:8:9: integrations.postgresql.instances[1].name: \"shop\" is used by an earlier instance",
            "integrations.postgresql.instances[1].dsn: invalid DSN",
            "integrations.postgresql.instances[1].statements.top_n: must be from 1 to 1000",
            "integrations.postgresql.instances[1].max_databases: must be at least 1",
            "integrations.postgresql.instances[1].heartbeat.table: must be a lower-case name",
            "integrations.postgresql.instances[1].heartbeat.primary_dsn: invalid DSN",
            "integrations.postgresql.instances[2].dsn: invalid DSN: empty",
            "integrations.postgresql.instances[2].dns: unknown key",
        ] {
            assert!(
                lines.iter().any(|l| l.contains(want)),
                "{want} not in:\n{e}"
            );
        }
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn table_names() {
        for ok in ["dozor_heartbeat", "monitoring.hb", "_x1"] {
            assert!(valid_table(ok), "{ok}");
        }
        for bad in [
            "",
            "Heartbeat",
            "a.b.c",
            "1x",
            "hb;drop",
            "a..b",
            "hb \"x\"",
        ] {
            assert!(!valid_table(bad), "{bad}");
        }
    }
}
