//! The agent's configuration file (YAML) and its defaults.
//!
//! Loaded by `dozor-config`: unknown keys are rejected, `${VAR}` is substituted, durations are
//! written `15s`, and every problem is reported at once as `file:line:col: key.path: message`.
//! Without `--config`, [`Config::default`] is a working setup for this machine: the host
//! integration, exported over OTLP/gRPC to a collector on 127.0.0.1:4317.

pub use crate::admin::config::AdminConfig;
use crate::export::config::OtlpConfig;
use crate::integrations::IntegrationsConfig;
use dozor_config::{Duration, Validate, Validator};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The whole agent configuration.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct Config {
    /// Schedule defaults for every integration.
    pub agent: AgentConfig,
    /// Identity attached to everything this agent sends.
    pub resource: ResourceConfig,
    /// Where and how telemetry is sent.
    pub exporters: ExportersConfig,
    /// File system roots the host integration reads from.
    pub paths: PathsConfig,
    /// The data sources, one section per integration.
    pub integrations: IntegrationsConfig,
    /// The admin endpoint that `dozor-agent status` and the other admin commands read.
    pub admin: AdminConfig,
    /// Where `dozor-agent diagnose` reads its canary back from.
    pub diagnose: DiagnoseConfig,
}

/// `diagnose`: where the canary series is read back from (`docs/diagnose.md`).
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct DiagnoseConfig {
    /// The collector's Prometheus exposition, e.g. `http://collector.plant:9464/metrics`;
    /// port 9464 of the first endpoint's host when unset.
    pub collector_metrics_url: Option<String>,
    /// Prometheus (`http://prometheus:9090`) scraping the collector: when set, the canary is
    /// also read back from it.
    pub prometheus_url: Option<String>,
}

/// Schedule defaults.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct AgentConfig {
    /// Time between runs of an integration that does not set its own `interval`.
    pub interval: Duration,
    /// Longest an integration run may take before it counts as a timeout.
    pub timeout: Duration,
    /// Where the agent keeps its state: the buffers (unless `exporters.otlp.buffer.path` says
    /// otherwise), the order flow's state files (unless `integrations.flow.state_dir` does) and
    /// the replication heartbeats waiting to be applied. When unset, `$STATE_DIRECTORY`
    /// (systemd), else `/var/lib/dozor-agent` as root, else `$XDG_STATE_HOME/dozor-agent` or
    /// `~/.local/state/dozor-agent`.
    pub state_dir: Option<PathBuf>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            interval: Duration(std::time::Duration::from_secs(15)),
            timeout: Duration(std::time::Duration::from_secs(10)),
            state_dir: None,
        }
    }
}

impl AgentConfig {
    /// The state directory: `state_dir`, or the default for how the agent runs.
    pub fn resolved_state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| dozor_config::state_dir("dozor-agent"))
    }
}

/// Identity: `host.name`, `service.instance.id` and free-form labels such as `site` and `role`.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct ResourceConfig {
    /// `host.name`; the kernel host name when unset.
    pub host_name: Option<String>,
    /// `service.instance.id`, the agent's identity at the collector (Prometheus `instance`);
    /// the host name when unset. Must be unique per agent.
    pub instance_id: Option<String>,
    /// Extra resource attributes, e.g. `site: plant-1`, `role: workstation`, `desk: packing-3`.
    /// Keep values from a small set: `site`, `role` and `desk` become labels on every series.
    pub attributes: BTreeMap<String, String>,
}

/// Exporters.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct ExportersConfig {
    /// OTLP to one or more dozor collectors (or any OTLP receiver).
    pub otlp: OtlpConfig,
}

/// File system roots (`--path.*` flags override these).
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct PathsConfig {
    /// procfs mount, `/proc` by default.
    pub procfs: Option<PathBuf>,
    /// sysfs mount, `/sys` by default.
    pub sysfs: Option<PathBuf>,
    /// Prefix for mount points (statvfs), `/` by default; `/host` when the agent runs in a
    /// container with the host's root mounted there.
    pub rootfs: Option<PathBuf>,
}

impl Validate for Config {
    fn validate(&self, v: &mut Validator) {
        let mut agent = v.at("agent");
        agent.positive("interval", self.agent.interval);
        agent.positive("timeout", self.agent.timeout);
        for (k, val) in &self.resource.attributes {
            if val.is_empty() {
                v.at("resource.attributes").error(k, "must not be empty");
            }
        }
        self.exporters.otlp.validate(&mut v.at("exporters.otlp"));
        self.integrations.validate(&mut v.at("integrations"));
        self.admin.validate(&mut v.at("admin"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::config::{BufferConfig, Gzip};

    /// The commented reference file lists the defaults; it must load to exactly them.
    #[test]
    fn reference_file_is_the_defaults() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dozor-agent.example.yaml");
        let loaded: Config = dozor_config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(format!("{loaded:#?}"), format!("{:#?}", Config::default()));
    }

    #[test]
    fn delivery_settings_are_checked_together() {
        let text = "exporters:\n  otlp:\n    buffer:\n      max_bytes: 4096\n      segment_bytes: 4096\n      when_full: pause\n    tls:\n      cert_file: /a.pem\n    auth:\n      token_file: /nonexistent/token\n      token_env: DOZOR_TEST_NO_SUCH_TOKEN\n    retry:\n      initial_backoff: 2s\n      max_backoff: 1s\n";
        let err = dozor_config::load_str::<Config>("agent.yaml", text, &|_| None)
            .expect_err("invalid")
            .to_string();
        for want in [
            "exporters.otlp.buffer.max_bytes: must be at least twice buffer.segment_bytes",
            "exporters.otlp.tls: cert_file and key_file go together",
            "exporters.otlp.auth: set token_file or token_env, not both",
            "exporters.otlp.auth.token_file: cannot read /nonexistent/token",
            "exporters.otlp.auth.token_env: environment variable DOZOR_TEST_NO_SUCH_TOKEN is not set",
            "exporters.otlp.retry.max_backoff: must be at least retry.initial_backoff",
        ] {
            assert!(err.contains(want), "missing {want:?} in:\n{err}");
        }
    }

    #[test]
    fn admin_off_host_needs_a_token_file() {
        let load = |text: &str| {
            dozor_config::load_str::<Config>("agent.yaml", text, &|_| None)
                .map(|c| c.admin.address())
                .map_err(|e| e.to_string())
        };
        let err = load("agent:\n  interval: 15s\nadmin:\n  listen: 0.0.0.0:8687\n").unwrap_err();
        assert!(
            err.contains("agent.yaml:4:")
                && err.contains("admin.listen")
                && err.contains("token_file"),
            "{err}"
        );
        assert!(
            load("admin:\n  listen: nowhere\n")
                .unwrap_err()
                .contains("admin.listen")
        );
        assert_eq!(load("admin:\n  listen: off\n"), Ok(None));
        assert_eq!(
            load("admin:\n  listen: '[::1]:9'\n"),
            Ok(Some("[::1]:9".parse().unwrap()))
        );
        assert_eq!(
            load(""),
            Ok(Some(
                crate::admin::config::DEFAULT_ADMIN_LISTEN.parse().unwrap()
            ))
        );
    }

    #[test]
    fn buffer_path_follows_how_the_agent_runs() {
        let explicit = BufferConfig {
            path: Some("/srv/buf".into()),
            ..BufferConfig::default()
        };
        assert_eq!(explicit.resolved_path(), PathBuf::from("/srv/buf"));
        // Without a path, the default ends in dozor-agent/buffer whichever rule applied.
        let default = BufferConfig::default().resolved_path();
        assert!(default.ends_with("buffer"), "{}", default.display());
    }

    #[test]
    fn gzip_takes_a_bool_or_auto_and_auto_skips_loopback() {
        let gzip = |v: &str| {
            let text = format!("exporters:\n  otlp:\n    gzip: {v}\n");
            dozor_config::load_str::<Config>("agent.yaml", &text, &|_| None)
                .map(|c| c.exporters.otlp.gzip)
                .map_err(|e| e.to_string())
        };
        assert_eq!(gzip("auto"), Ok(Gzip::Auto));
        assert_eq!(gzip("true"), Ok(Gzip::On));
        assert_eq!(gzip("false"), Ok(Gzip::Off));
        let err = gzip("sometimes").unwrap_err();
        assert!(
            err.contains("agent.yaml:3:11") && err.contains("true, false or auto"),
            "{err}"
        );
        for (endpoint, compressed) in [
            ("http://127.0.0.1:4317", false),
            ("http://127.1.2.3:4317", false),
            ("https://localhost:4317", false),
            ("http://[::1]:4318", false),
            ("http://10.0.0.5:4317", true),
            ("https://collector.example:443", true),
            ("http://[2001:db8::1]:4317", true),
        ] {
            assert_eq!(Gzip::Auto.applies_to(endpoint), compressed, "{endpoint}");
            assert!(Gzip::On.applies_to(endpoint));
            assert!(!Gzip::Off.applies_to(endpoint));
        }
    }
}

/// `docs/configuration.md`'s table of every key, generated from the structs' `///` comments and
/// defaults (`UPDATE_GOLDEN=1 cargo test -p dozor-agent key_reference` rewrites it).
#[cfg(test)]
mod key_reference {
    use super::Config;

    const BEGIN: &str = "<!-- BEGIN agent keys: generated from the config structs by `UPDATE_GOLDEN=1 cargo test -p dozor-agent key_reference`; do not edit -->\n";
    const END: &str = "<!-- END agent keys -->";

    #[test]
    fn key_reference_is_current() {
        let table = dozor_config::reference::markdown(&schemars::schema_for!(Config), "");
        // Two config types with one schema name would show one's keys under the other's.
        for key in [
            "`integrations.mysql.instances[].commands`",
            "`integrations.postgresql.instances[].statements.top_n`",
        ] {
            assert!(table.contains(key), "{key} missing: schema names collide?");
        }
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) else {
            panic!("{} has no {BEGIN:?} ... {END:?} section", path.display());
        };
        let current = &doc[b + BEGIN.len()..e];
        if current != table {
            if std::env::var_os("UPDATE_GOLDEN").is_some() {
                let updated = format!("{}{BEGIN}{table}{}", &doc[..b], &doc[e..]);
                std::fs::write(&path, updated).unwrap();
            } else {
                panic!(
                    "docs/configuration.md's agent keys are stale: run UPDATE_GOLDEN=1 cargo test -p dozor-agent key_reference"
                );
            }
        }
    }
}
