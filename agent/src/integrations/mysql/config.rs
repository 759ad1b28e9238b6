//! `integrations.mysql`: which MySQL / MariaDB servers to watch and what to read from each.

use super::Mysql;
pub use crate::integrations::db::Dsn;
use crate::integrations::db::{self, tls::Settings};
use crate::integrations::{Context, Instance, Instances, Integration};
use dozor_config::At;
use serde::Deserialize;

/// `integrations.mysql`: the servers to watch under `instances`, each on its own connection
/// and schedule. Connecting may take a quarter of the timeout, and so may each query (socket
/// read and write timeouts).
pub type Config = Instances<InstanceConfig>;

/// One MySQL or MariaDB server. `SHOW GLOBAL STATUS` and `SHOW GLOBAL VARIABLES` need no
/// privilege; `SHOW REPLICA STATUS` needs `SLAVE MONITOR` (also spelled `REPLICA MONITOR`) on
/// MariaDB 10.5 and later, `REPLICATION CLIENT` on MySQL and older MariaDB. TLS from the DSN's
/// `ssl-mode`, `ssl-ca`, `ssl-cert` and `ssl-key` (see docs/configuration.md).
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[cfg_attr(test, schemars(rename = "MysqlInstanceConfig"))]
#[serde(default)]
pub struct InstanceConfig {
    /// The `mysql.instance` attribute of every series, e.g. `mes` or `mes-replica`; unique
    /// among the instances.
    pub name: String,
    /// Connection URL: `mysql://dozor:${MYSQL_PASSWORD}@127.0.0.1:3306/monitoring` (or
    /// `mariadb://...`); a Unix socket with `?socket=/run/mysqld/mysqld.sock`; TLS with
    /// `?ssl-mode=VERIFY_IDENTITY&ssl-ca=/etc/dozor/mysql-ca.pem`. Never logged: messages show it without
    /// its password.
    pub dsn: Dsn,
    /// `Com_*` counters reported in addition to the default set (select, insert,
    /// insert_select, update, update_multi, delete, delete_multi, replace, replace_select,
    /// load, begin, commit, rollback, call_procedure, stmt_execute), by name without `Com_`:
    /// `[create_table, alter_table]`. Names the server does not have are ignored.
    pub commands: Vec<String>,
    /// Replication delay measured with heartbeat rows.
    pub heartbeat: HeartbeatConfig,
}

/// Heartbeat: the agent writes the time into a table on the primary and reads it back on the
/// replica, so the replica's delay stays true while the primary is idle and a broken replica
/// never reads as up to date.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[cfg_attr(test, schemars(rename = "MysqlHeartbeatConfig"))]
#[serde(default)]
pub struct HeartbeatConfig {
    /// Off by default: it needs a table the agent may write on the primary.
    pub enabled: bool,
    /// Table for the heartbeat rows, `name` (in the DSN's database) or `database.name`; created
    /// on the primary when missing (which needs `CREATE`), else create it yourself:
    /// `CREATE TABLE dozor_heartbeat (server_id INT UNSIGNED NOT NULL PRIMARY KEY, ts DATETIME(6) NOT NULL)`.
    pub table: String,
    /// On a replica: the primary to write heartbeats to (`INSERT` and `UPDATE` on the table).
    /// Unset, a primary instance writes into its own server and a replica instance only reads
    /// what its primary's agent wrote (the delay then includes up to one of that agent's
    /// intervals).
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

/// `Com_*` counters always reported: reads, writes and transactions.
pub const DEFAULT_COMMANDS: &[&str] = &[
    "select",
    "insert",
    "insert_select",
    "update",
    "update_multi",
    "delete",
    "delete_multi",
    "replace",
    "replace_select",
    "load",
    "begin",
    "commit",
    "rollback",
    "call_procedure",
    "stmt_execute",
];

/// The most `commands` an instance may add (the servers have about 150 `Com_*` counters).
pub const MAX_EXTRA_COMMANDS: usize = 200;

/// Lower-case `Com_*` suffixes: the defaults, then the configured ones not already in them.
pub fn commands(extra: &[String]) -> Vec<String> {
    let mut out: Vec<String> = DEFAULT_COMMANDS.iter().map(|c| c.to_string()).collect();
    for c in extra {
        let c = normalize_command(c);
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

fn normalize_command(c: &str) -> String {
    let c = c.trim().to_ascii_lowercase();
    c.strip_prefix("com_").map_or(c.clone(), str::to_string)
}

impl Instance for InstanceConfig {
    const LIST: &'static str = "instances";
    const NOUN: &'static str = "instance";
    const LABEL: &'static str = "mysql.instance";

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self, at: &mut At<'_>) {
        fn tls(d: &db::my::Dsn) -> &Settings {
            &d.tls
        }
        let opts = db::check(at, "dsn", self.dsn.mysql(), tls).map(|d| d.opts);
        if self.commands.len() > MAX_EXTRA_COMMANDS {
            at.error("commands", format!("at most {MAX_EXTRA_COMMANDS} commands"));
        }
        for (j, c) in self.commands.iter().enumerate() {
            let name = normalize_command(c);
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                at.item("commands", j).error(
                    "",
                    format!(
                        "\"{c}\" is not a Com_ counter name (letters and _, e.g. create_table)"
                    ),
                );
            }
        }
        let hb = &self.heartbeat;
        // `Some(None)`: a primary_dsn that does not parse (reported).
        let primary = hb
            .primary_dsn
            .as_ref()
            .map(|d| db::check(at, "heartbeat.primary_dsn", d.mysql(), tls).map(|d| d.opts));
        let db_name = |o: &mysql::Opts| o.get_db_name().map(str::to_string);
        match split_table(&hb.table) {
            None => at.error(
                "heartbeat.table",
                "must be a name or database.name (letters, digits, _, $; at most 64 each)",
            ),
            Some((None, _)) if hb.enabled => {
                let no_db =
                    |o: &Option<mysql::Opts>| o.as_ref().is_some_and(|o| db_name(o).is_none());
                if no_db(&opts) || primary.as_ref().is_some_and(no_db) {
                    at.error(
                        "heartbeat.table",
                        "names no database and a DSN has none: write database.table or add /database to the DSN",
                    );
                } else if let Some(Some(p)) = &primary
                    && opts.as_ref().is_some_and(|o| db_name(o) != db_name(p))
                {
                    // Written on the primary in its DSN's database, read on the replica in
                    // this one: they must be the same table.
                    at.error(
                        "heartbeat.table",
                        "names no database and the dsn and primary_dsn name different ones: write database.table",
                    );
                }
            }
            Some(_) => {}
        }
    }

    fn build(&self, timeout: std::time::Duration, ctx: &Context) -> Option<Box<dyn Integration>> {
        match Mysql::new(self, timeout) {
            Ok(integration) => Some(Box::new(
                integration.keep_state(&ctx.state_dir, ctx.save_state),
            )),
            // Unreachable after validation, which checks the same DSNs.
            Err(error) => {
                tracing::error!(error = %error, "MySQL instance not started.");
                None
            }
        }
    }
}

/// Splits `database.name` or `name`; `None` unless each part is safe to quote in SQL.
pub fn split_table(name: &str) -> Option<(Option<&str>, &str)> {
    let ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 64
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    };
    match name.split_once('.') {
        Some((db, table)) if ok(db) && ok(table) => Some((Some(db), table)),
        None if ok(name) => Some((None, name)),
        _ => None,
    }
}

/// The table as SQL: `` `database`.`name` `` or `` `name` ``.
pub fn quoted_table(name: &str) -> Option<String> {
    split_table(name).map(|(db, table)| match db {
        Some(db) => format!("`{db}`.`{table}`"),
        None => format!("`{table}`"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, String> {
        crate::integrations::testing::load(text)
    }

    #[test]
    fn dsn_is_never_shown_with_its_password() {
        let url = Dsn("mysql://dozor:s3cret@db1:3307/shop".into());
        assert_eq!(url.redacted(), "dozor@db1:3307/shop");
        assert!(!format!("{url:?}").contains("s3cret"));
        let socket =
            Dsn("mysql://dozor:s3cret@localhost/shop?socket=/run/mysqld/mysqld.sock".into());
        assert_eq!(socket.redacted(), "dozor@unix:/run/mysqld/mysqld.sock/shop");
        let broken = Dsn("mysql://dozor:s3cret@db1:notaport/shop".into());
        assert_eq!(format!("{broken:?}"), "Dsn(\"<invalid DSN>\")");
        assert!(!broken.mysql().unwrap_err().contains("s3cret"));
        let scheme = Dsn("postgres://dozor:s3cret@db1/shop".into());
        assert!(
            scheme
                .mysql()
                .unwrap_err()
                .contains("must start with mysql://")
        );
    }

    #[test]
    fn defaults_and_validation() {
        let c = load(
            "integrations:\n  mysql:\n    enabled: true\n    instances:\n      - name: mes\n        dsn: mysql://dozor@127.0.0.1:3306/\n        commands: [Com_create_table, select]\n",
        )
        .unwrap();
        let i = &c.instances[0];
        assert!(c.interval.is_none() && !i.heartbeat.enabled);
        assert_eq!(i.heartbeat.table, "dozor_heartbeat");
        let all = commands(&i.commands);
        assert_eq!(all.len(), DEFAULT_COMMANDS.len() + 1);
        assert_eq!(all.last().map(String::as_str), Some("create_table"));

        let text = "\
integrations:
  mysql:
    enabled: true
    timeout: 0s
    instances:
      - name: mes
        dsn: mysql://dozor@127.0.0.1/
        heartbeat: {enabled: true}
      - name: mes
        dsn: mysql://dozor:hunter2@h:p/x
        commands: ['drop table x; --']
        heartbeat: {table: 'x; DROP TABLE y', primary_dsn: 'mysql://a:hunter2@h:p/x'}
      - name: other
        dsn: ''
        dns: typo
      - name: split
        dsn: mysql://dozor@db2/a
        heartbeat: {enabled: true, primary_dsn: 'mysql://dozor@db1/b'}
";
        let e = load(text).unwrap_err();
        let lines: Vec<&str> = e.lines().collect();
        for want in [
            "agent.yaml:4:5: integrations.mysql.timeout: must be greater than 0s",
            "integrations.mysql.instances[0].heartbeat.table: names no database",
            "agent.yaml:9:9: integrations.mysql.instances[1].name: \"mes\" is used by an earlier instance",
            "integrations.mysql.instances[1].dsn: invalid DSN",
            "integrations.mysql.instances[1].commands[0]: \"drop table x; --\" is not a Com_ counter name",
            "integrations.mysql.instances[1].heartbeat.table: must be a name or database.name",
            "integrations.mysql.instances[1].heartbeat.primary_dsn: invalid DSN",
            "integrations.mysql.instances[2].dsn: invalid DSN: empty",
            "integrations.mysql.instances[2].dns: unknown key",
            "integrations.mysql.instances[3].heartbeat.table: names no database and the dsn and primary_dsn name different ones",
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
        assert_eq!(
            quoted_table("dozor_heartbeat").unwrap(),
            "`dozor_heartbeat`"
        );
        assert_eq!(quoted_table("monitoring.hb").unwrap(), "`monitoring`.`hb`");
        for bad in ["", "a.b.c", "hb;drop", "a..b", "hb`x", ".hb", "hb."] {
            assert!(split_table(bad).is_none(), "{bad}");
        }
    }
}
