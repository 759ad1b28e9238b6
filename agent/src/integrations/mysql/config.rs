//! `integrations.mysql`: which MySQL / MariaDB servers to watch and what to read from each.

use crate::integrations::db;
use dozor_config::{Duration, Validator};
use serde::Deserialize;
use std::fmt;

/// `integrations.mysql`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Off by default.
    pub enabled: bool,
    /// Time between collections; `agent.interval` when unset.
    pub interval: Option<Duration>,
    /// Longest a collection may take; `agent.timeout` when unset. Connecting may take a quarter
    /// of it, and so may each query (socket read and write timeouts).
    pub timeout: Option<Duration>,
    /// The servers to watch, each on its own connection and schedule.
    pub instances: Vec<InstanceConfig>,
}

/// One MySQL or MariaDB server. `SHOW GLOBAL STATUS` and `SHOW GLOBAL VARIABLES` need no
/// privilege; `SHOW REPLICA STATUS` needs `SLAVE MONITOR` (also spelled `REPLICA MONITOR`) on
/// MariaDB 10.5 and later, `REPLICATION CLIENT` on MySQL and older MariaDB. TLS from the DSN's
/// `ssl-mode`, `ssl-ca`, `ssl-cert` and `ssl-key` (see docs/configuration.md).
#[derive(Debug, Default, Deserialize)]
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

/// A connection URL; `Debug` and [`Dsn::redacted`] never show its password.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Dsn(pub String);

impl Dsn {
    /// Parses it into client options and TLS settings.
    pub fn parse(&self) -> Result<db::my::Dsn, String> {
        db::my::parse(&self.0)
    }

    /// Where it points, without the password: `dozor@127.0.0.1:3306/monitoring`.
    pub fn redacted(&self) -> String {
        match self.parse() {
            Ok(d) => db::my::describe(&d.opts, &d.tls),
            Err(_) => "<invalid DSN>".into(),
        }
    }
}

impl fmt::Debug for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dsn({:?})", self.redacted())
    }
}

/// Reports a DSN that does not parse, or names TLS files that cannot be read; its options when
/// it parses.
fn check_dsn(dsn: &Dsn, at: &str, v: &mut Validator) -> Result<mysql::Opts, String> {
    let parsed = dsn.parse();
    match &parsed {
        Err(why) => v.error(at, format!("invalid DSN: {why}")),
        Ok(d) => {
            if let Err(why) = d.tls.check_files() {
                v.error(at, why);
            }
        }
    }
    parsed.map(|d| d.opts)
}

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

/// Reports every problem of `config` under `integrations.mysql`.
pub fn validate(config: &Config, v: &mut Validator) {
    let base = "integrations.mysql";
    for (key, d) in [("interval", &config.interval), ("timeout", &config.timeout)] {
        if d.is_some_and(|d| d.0.is_zero()) {
            v.error(&format!("{base}.{key}"), "must be greater than 0s");
        }
    }
    if config.enabled && config.instances.is_empty() {
        v.error(
            &format!("{base}.instances"),
            "at least one instance is needed when the integration is enabled",
        );
    }
    for (i, inst) in config.instances.iter().enumerate() {
        let at = format!("{base}.instances[{i}]");
        if inst.name.trim().is_empty() {
            v.error(
                &format!("{at}.name"),
                "must be set (it becomes mysql.instance)",
            );
        } else if config.instances[..i].iter().any(|o| o.name == inst.name) {
            v.error(
                &format!("{at}.name"),
                format!("\"{}\" is used by an earlier instance", inst.name),
            );
        }
        let opts = check_dsn(&inst.dsn, &format!("{at}.dsn"), v);
        if inst.commands.len() > MAX_EXTRA_COMMANDS {
            v.error(
                &format!("{at}.commands"),
                format!("at most {MAX_EXTRA_COMMANDS} commands"),
            );
        }
        for (j, c) in inst.commands.iter().enumerate() {
            let name = normalize_command(c);
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                v.error(
                    &format!("{at}.commands[{j}]"),
                    format!(
                        "\"{c}\" is not a Com_ counter name (letters and _, e.g. create_table)"
                    ),
                );
            }
        }
        let hb = &inst.heartbeat;
        let primary = hb
            .primary_dsn
            .as_ref()
            .map(|d| check_dsn(d, &format!("{at}.heartbeat.primary_dsn"), v));
        match split_table(&hb.table) {
            None => v.error(
                &format!("{at}.heartbeat.table"),
                "must be a name or database.name (letters, digits, _, $; at most 64 each)",
            ),
            Some((None, _)) if hb.enabled => {
                let no_db = |o: &Result<mysql::Opts, String>| {
                    o.as_ref().is_ok_and(|o| o.get_db_name().is_none())
                };
                let db = |o: &Result<mysql::Opts, String>| {
                    o.as_ref()
                        .ok()
                        .and_then(|o| o.get_db_name().map(str::to_string))
                };
                if no_db(&opts) || primary.as_ref().is_some_and(no_db) {
                    v.error(
                        &format!("{at}.heartbeat.table"),
                        "names no database and a DSN has none: write database.table or add /database to the DSN",
                    );
                } else if let Some(p) = &primary
                    && db(p) != db(&opts)
                {
                    // Written on the primary in its DSN's database, read on the replica in
                    // this one: they must be the same table.
                    v.error(
                        &format!("{at}.heartbeat.table"),
                        "names no database and the dsn and primary_dsn name different ones: write database.table",
                    );
                }
            }
            Some(_) => {}
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

    impl db::testing::Section for Config {
        fn validate(&self, v: &mut Validator) {
            validate(self, v);
        }
    }

    fn load(text: &str) -> Result<Config, String> {
        db::testing::load(text)
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
        assert!(!broken.parse().unwrap_err().contains("s3cret"));
        let scheme = Dsn("postgres://dozor:s3cret@db1/shop".into());
        assert!(
            scheme
                .parse()
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
