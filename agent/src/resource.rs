//! The agent's resource identity: what every batch it sends says about where it came from.

use crate::config::ResourceConfig;
use crate::integrations::Paths;

/// Builds the OTLP resource attributes: `service.name`, `service.version`, `service.instance.id`,
/// `host.name`, `host.arch`, `os.type`, and the configured attributes (`site`, `role`, ...).
pub fn attributes(config: &ResourceConfig, paths: &Paths) -> Vec<(String, String)> {
    let host_name = config
        .host_name
        .clone()
        .unwrap_or_else(|| kernel_host_name(paths));
    let instance = config
        .instance_id
        .clone()
        .unwrap_or_else(|| host_name.clone());
    let mut out = vec![
        ("service.name".to_string(), "dozor-agent".to_string()),
        (
            "service.version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        ("service.instance.id".to_string(), instance),
        ("host.name".to_string(), host_name),
        ("host.arch".to_string(), std::env::consts::ARCH.to_string()),
        ("os.type".to_string(), std::env::consts::OS.to_string()),
    ];
    for (k, v) in &config.attributes {
        match out.iter_mut().find(|(key, _)| key == k) {
            Some((_, value)) => *value = v.clone(),
            None => out.push((k.clone(), v.clone())),
        }
    }
    out
}

/// The kernel's host name from `<procfs>/sys/kernel/hostname`, then `/etc/hostname`.
fn kernel_host_name(paths: &Paths) -> String {
    [
        paths.procfs.join("sys/kernel/hostname"),
        "/etc/hostname".into(),
    ]
    .iter()
    .filter_map(|p| std::fs::read_to_string(p).ok())
    .map(|s| s.trim().to_string())
    .find(|s| !s.is_empty())
    .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_identity_wins() {
        let config = ResourceConfig {
            host_name: Some("ws-17".into()),
            instance_id: None,
            attributes: [
                ("site".to_string(), "plant-a".to_string()),
                ("role".to_string(), "workstation".to_string()),
            ]
            .into_iter()
            .collect(),
        };
        let attrs = attributes(&config, &Paths::default());
        let get = |k: &str| {
            attrs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("host.name"), Some("ws-17"));
        assert_eq!(get("service.instance.id"), Some("ws-17"));
        assert_eq!(get("site"), Some("plant-a"));
        assert_eq!(get("role"), Some("workstation"));
    }
}
