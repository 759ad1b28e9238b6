//! `integrations.flow`: the flows, their stages and queries, and the bounds on what is kept.

use super::FlowIntegration;
use crate::integrations::db::Dsn;
use crate::integrations::{Context, Scheduled, Section};
use dozor_config::{At, Duration};
use serde::Deserialize;
use std::collections::HashSet;
use std::path::PathBuf;

/// `integrations.flow`.
#[derive(Clone, Debug, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct Config {
    /// Off by default.
    pub enabled: bool,
    /// Time between runs; `agent.interval` when unset. The first run after a start only
    /// publishes the saved counters, so keep it longer than Prometheus's scrape interval (that
    /// zero must be scraped for `increase()` to see a new flow's first losses).
    pub interval: Option<Duration>,
    /// Longest a run may take; `agent.timeout` when unset. Connecting to a stage's database may
    /// take a quarter of it, its query half (`statement_timeout`).
    pub timeout: Option<Duration>,
    /// Where the state files (`<flow>.state.json`) are kept. Default: `flow` in the agent's
    /// state directory (`agent.state_dir`). Lost-key events go to the exporter's logs outbox.
    pub state_dir: Option<PathBuf>,
    /// The flows to reconcile.
    pub flows: Vec<FlowConfig>,
}

/// One flow: keys (order ids) passing through stages in order.
#[derive(Clone, Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct FlowConfig {
    /// The `flow` label and the state file's name: letters, digits, `_`, `-`.
    pub name: String,
    /// How far back keys are looked for and remembered. Must exceed every stage's `sla`.
    pub window: Duration,
    /// How far before the last `seen_at` read each query starts again, for rows committed late
    /// (a transaction that began before a later one committed). A key is declared lost only
    /// once the next stage has been read completely past its deadline, so a loss is reported
    /// about `sla + overlap` after the key was seen (1 minute after the SLA by default).
    pub overlap: Duration,
    /// Keys held at most (in flight, reported lost, or seen early at a next stage); beyond it
    /// new keys are counted in `dozor.flow.untracked` and not followed.
    pub max_keys_in_flight: usize,
    /// Rows one query returns at most; a stage with more new rows catches up over several runs.
    /// Must well exceed the rows a stage gets within `overlap`.
    pub max_rows_per_query: usize,
    /// The stages, in the order keys pass through them; at least two.
    pub stages: Vec<StageConfig>,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            name: String::new(),
            window: Duration(std::time::Duration::from_secs(24 * 3600)),
            overlap: Duration(std::time::Duration::from_secs(60)),
            max_keys_in_flight: 100_000,
            max_rows_per_query: 100_000,
            stages: Vec::new(),
        }
    }
}

/// One stage of a flow, in its own database.
#[derive(Clone, Debug, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct StageConfig {
    /// The `stage` label: letters, digits, `_`, `-`.
    pub name: String,
    /// Connection string: PostgreSQL `postgres://user:password@host:5432/db` (or
    /// `host=... dbname=...`), MySQL or MariaDB `mysql://user:password@host:3306/db`; put the
    /// password in `${ENV_VAR}`. Use a read-only role: the agent also makes the session
    /// read-only.
    pub dsn: Dsn,
    /// Returns the keys seen at this stage and when: columns `key` (text or integer; `` `key` ``
    /// in MySQL) and `seen_at` (timestamptz, or a timestamp or DATETIME read as UTC). `$1` is
    /// the time to read from, in both kinds of database; use it (`WHERE created_at > $1`) so
    /// that each run reads only new rows. One row per key.
    pub query: String,
    /// How long a key may take from this stage to the next before it counts as lost. Required
    /// for every stage but the last. The loss is reported once the next stage has been read
    /// `overlap` past the deadline (see the flow's `overlap`).
    pub sla: Option<Duration>,
}

impl Section for Config {
    fn validate(&self, at: &mut At<'_>) {
        at.positive_if_set("interval", self.interval);
        at.positive_if_set("timeout", self.timeout);
        if self.enabled && self.flows.is_empty() {
            at.error(
                "flows",
                "at least one flow is needed when the integration is enabled",
            );
        }
        let mut flow_names = HashSet::new();
        for (i, flow) in self.flows.iter().enumerate() {
            let mut at = at.item("flows", i);
            check_name(&mut at, &flow.name);
            if !flow_names.insert(flow.name.as_str()) {
                at.error(
                    "name",
                    format!("flow \"{}\" is configured twice", flow.name),
                );
            }
            flow.validate(&mut at);
        }
    }

    fn build(&self, ctx: &Context) -> Vec<Scheduled> {
        if !self.enabled || self.flows.is_empty() {
            return Vec::new();
        }
        let (interval, timeout) = ctx.schedule(self.interval, self.timeout);
        let mut config = self.clone();
        let state_dir = ctx.state_dir.join("flow");
        config.state_dir.get_or_insert(state_dir);
        vec![Scheduled {
            integration: Box::new(FlowIntegration::new(&config, timeout, ctx.logs.clone())),
            interval,
            timeout,
        }]
    }
}

impl FlowConfig {
    fn validate(&self, at: &mut At<'_>) {
        at.positive("window", self.window);
        if self.overlap.0 >= self.window.0 {
            at.error("overlap", "must be less than window");
        }
        at.at_least("max_keys_in_flight", self.max_keys_in_flight, 1);
        at.at_least("max_rows_per_query", self.max_rows_per_query, 100);
        if self.stages.len() < 2 {
            at.error(
                "stages",
                "a flow needs at least two stages (where keys enter, and where they must arrive)",
            );
        }
        let mut stage_names = HashSet::new();
        let last = self.stages.len().saturating_sub(1);
        for (j, stage) in self.stages.iter().enumerate() {
            let mut at = at.item("stages", j);
            check_name(&mut at, &stage.name);
            if !stage_names.insert(stage.name.as_str()) {
                at.error(
                    "name",
                    format!("stage \"{}\" appears twice in the flow", stage.name),
                );
            }
            check_dsn(&mut at, &stage.dsn);
            if stage.query.trim().is_empty() {
                at.error("query", "required: a query returning key and seen_at");
            } else if !stage.query.contains("$1") {
                at.error(
                    "query",
                    "must use $1, the time to read from (e.g. WHERE created_at > $1), so each run reads only new rows",
                );
            }
            match (&stage.sla, j == last) {
                (None, false) => at.error(
                    "sla",
                    format!(
                        "required: how long a key may take to reach stage \"{}\"",
                        self.stages[j + 1].name
                    ),
                ),
                (Some(_), true) => at.error("sla", "the last stage has no next stage: remove sla"),
                (Some(sla), false) if sla.0.is_zero() || sla.0 >= self.window.0 => at.error(
                    "sla",
                    "must be greater than 0s and less than the flow's window",
                ),
                _ => {}
            }
        }
    }
}

fn check_name(at: &mut At<'_>, name: &str) {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !ok {
        at.error("name", "must be 1 to 64 letters, digits, '_' or '-'");
    }
}

/// Reports a stage dsn that does not parse, or whose TLS files (`sslrootcert`, `sslcert`,
/// `sslkey`; `ssl-ca`, `ssl-cert`, `ssl-key`) cannot be read. Parsed as the stage's connection
/// parses it, so what the check accepts is what runs (`sslmode=verify-full` included).
fn check_dsn(at: &mut At<'_>, dsn: &Dsn) {
    // Messages never repeat the dsn: it may hold a password. File paths are not secret.
    let tls = if dsn.0.trim().is_empty() {
        at.error("dsn", "required: postgres://user@host:5432/database");
        return;
    } else if dsn.is_mysql() {
        match dsn.mysql() {
            Ok(d) => d.tls,
            Err(e) => {
                let fix = "write mysql://user@host:3306/database";
                at.error("dsn", format!("not a MySQL connection string ({e}); {fix}"));
                return;
            }
        }
    } else {
        match dsn.postgres() {
            Ok(d) => d.tls,
            Err(e) => {
                let fix = "write postgres://user@host:5432/database";
                at.error(
                    "dsn",
                    format!("not a PostgreSQL connection string ({e}); {fix}"),
                );
                return;
            }
        }
    };
    if let Err(why) = tls.check_files() {
        at.error("dsn", why);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Root {
        integrations: Integrations,
    }

    #[derive(Debug, Deserialize)]
    struct Integrations {
        flow: Config,
    }

    impl dozor_config::Validate for Root {
        fn validate(&self, v: &mut dozor_config::Validator) {
            self.integrations
                .flow
                .validate(&mut v.at("integrations.flow"));
        }
    }

    fn load(yaml: &str) -> Result<Root, String> {
        dozor_config::load_str::<Root>("agent.yaml", yaml, &|_| None).map_err(|e| e.to_string())
    }

    #[test]
    fn a_good_config_loads() {
        let root = load(
            r#"
integrations:
  flow:
    enabled: true
    flows:
      - name: orders
        window: 24h
        stages:
          - name: shop
            dsn: "postgres://dozor:secret@127.0.0.1:5432/shop"
            query: "SELECT id::text AS key, created_at AS seen_at FROM orders WHERE created_at > $1"
            sla: 10m
          - name: mes
            dsn: "host=127.0.0.1 user=postgres dbname=mes"
            query: "SELECT shop_order_id AS key, received_at AS seen_at FROM jobs WHERE received_at > $1"
"#,
        )
        .unwrap();
        let flow = &root.integrations.flow.flows[0];
        assert_eq!(flow.stages.len(), 2);
        assert_eq!(flow.overlap.0, std::time::Duration::from_secs(60));
    }

    /// A flow of two stages with these dsns, as YAML (the dsn keys on lines 9 and 13, column 13).
    fn two_stages(shop: &str, mes: &str) -> String {
        format!(
            r#"
integrations:
  flow:
    enabled: true
    flows:
      - name: orders
        stages:
          - name: shop
            dsn: "{shop}"
            query: "SELECT id::text AS key, created_at AS seen_at FROM orders WHERE created_at > $1"
            sla: 10m
          - name: mes
            dsn: "{mes}"
            query: "SELECT order_ref AS `key`, received_at AS seen_at FROM jobs WHERE received_at > $1"
"#
        )
    }

    /// TLS parameters the stages carry out (`flow/pg.rs`, `flow/my.rs`) pass the config check,
    /// and the files they name must be readable CA certificates, keys and certificates.
    #[test]
    fn tls_dsns_pass_and_their_files_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let certs = crate::integrations::db::testing::certs(dir.path(), "db", &["db1"]);
        let (ca, cert, key) = (
            certs.ca.display(),
            certs.cert.display(),
            certs.key.display(),
        );
        let shop = format!(
            "host=db1 user=dozor password=hunter2 dbname=shop sslmode=verify-full sslrootcert={ca}"
        );
        let mes = format!(
            "mysql://dozor:hunter2@db2:3306/mes?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}&ssl-cert={cert}&ssl-key={key}"
        );
        let root = load(&two_stages(&shop, &mes)).unwrap();
        assert_eq!(root.integrations.flow.flows[0].stages.len(), 2);
        let url = format!(
            "postgres://dozor:hunter2@db1:5432/shop?sslmode=verify-ca&sslrootcert={ca}&sslcert={cert}&sslkey={key}"
        );
        load(&two_stages(&url, &mes)).unwrap();

        let missing = dir.path().join("missing-ca.pem");
        let missing = missing.display();
        let shop = format!(
            "host=db1 user=dozor password=hunter2 dbname=shop sslmode=verify-full sslrootcert={missing}"
        );
        let mes = format!("mysql://dozor:hunter2@db2:3306/mes?ssl-mode=VERIFY_CA&ssl-ca={missing}");
        let err = load(&two_stages(&shop, &mes)).unwrap_err();
        for want in [
            format!(
                "agent.yaml:9:13: integrations.flow.flows[0].stages[0].dsn: sslrootcert {missing}: cannot read: No such file"
            ),
            format!(
                "agent.yaml:13:13: integrations.flow.flows[0].stages[1].dsn: ssl-ca {missing}: cannot read: No such file"
            ),
        ] {
            assert!(err.contains(&want), "missing {want:?} in:\n{err}");
        }
        assert!(!err.contains("hunter2"), "a password leaked:\n{err}");

        // A key file that is not a key, and a root file without a certificate.
        let shop = format!(
            "host=db1 user=dozor sslmode=require sslrootcert={key} sslcert={cert} sslkey={cert}"
        );
        let err = load(&two_stages(&shop, &mes)).unwrap_err();
        assert!(
            err.contains(&format!(
                "integrations.flow.flows[0].stages[0].dsn: sslrootcert {key}: holds no usable CA certificate"
            )),
            "{err}"
        );
        let shop = format!("host=db1 user=dozor sslmode=require sslcert={cert} sslkey={cert}");
        let err = load(&two_stages(&shop, &mes)).unwrap_err();
        assert!(
            err.contains(&format!(
                "integrations.flow.flows[0].stages[0].dsn: sslkey {cert}: holds no PEM item"
            )),
            "{err}"
        );
    }

    #[test]
    fn reports_every_problem_at_its_key() {
        let err = load(
            r#"
integrations:
  flow:
    enabled: true
    flows:
      - name: orders
        stages:
          - name: shop
            dsn: "postgres://dozor:secret@127.0.0.1:5432/shop"
            query: "SELECT id::text AS key, created_at AS seen_at FROM orders"
          - name: shop
            dsn: "mysql://root:secret@127.0.0.1:x/test"
            query: "SELECT 1 WHERE $1 IS NOT NULL"
            sla: 10m
      - name: "bad name"
        stages:
          - name: only
            dsn: "postgres://x@[::1"
            query: ""
"#,
        )
        .unwrap_err();
        for want in [
            "integrations.flow.flows[0].stages[0].query: must use $1",
            "integrations.flow.flows[0].stages[0].sla: required: how long a key may take to reach stage \"shop\"",
            "integrations.flow.flows[0].stages[1].name: stage \"shop\" appears twice",
            "integrations.flow.flows[0].stages[1].dsn: not a MySQL connection string",
            "integrations.flow.flows[0].stages[1].sla: the last stage has no next stage",
            "integrations.flow.flows[1].name: must be 1 to 64 letters",
            "integrations.flow.flows[1].stages: a flow needs at least two stages",
            "integrations.flow.flows[1].stages[0].dsn: not a PostgreSQL connection string",
            "integrations.flow.flows[1].stages[0].query: required",
        ] {
            assert!(err.contains(want), "missing {want:?} in:\n{err}");
        }
        assert!(!err.contains("secret"), "a password leaked:\n{err}");
    }
}
