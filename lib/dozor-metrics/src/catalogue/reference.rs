//! Renders the metric reference (`docs/metrics.md`) from the catalogue.
//!
//! The file is generated, never edited: `tests/generated.rs` fails when it is stale and rewrites
//! it when run with `UPDATE_GOLDEN=1`.

use super::{MetricDef, agent, collector, container, demo, flow, host, mysql, postgresql, sql};
use std::fmt::Write;

/// The sections of the page; together they hold every catalogue entry once.
const SECTIONS: [(&str, &[&MetricDef]); 9] = [
    ("Host (`host` integration)", host::ALL),
    (
        "Containers, services and cgroups (`host` integration)",
        container::ALL,
    ),
    ("PostgreSQL (`postgresql` integration)", postgresql::ALL),
    ("MySQL and MariaDB (`mysql` integration)", mysql::ALL),
    ("Order flow (`flow` integration)", flow::ALL),
    ("Business SQL (`sql` integration)", sql::ALL),
    ("Demo data (`demo` integration)", demo::ALL),
    ("Agent self-monitoring", agent::ALL),
    ("Collector self-monitoring and fleet", collector::ALL),
];

/// The whole reference page.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Metric reference\n\n\
         <!-- Generated from lib/dozor-metrics/src/catalogue by `UPDATE_GOLDEN=1 cargo test -p dozor-metrics --test generated`. Do not edit. -->\n\n\
         Every metric dozor emits, with its OpenTelemetry name and the Prometheus name the collector\n\
         exposes (derived by the OpenTelemetry-to-Prometheus rules). Every series also carries `job`\n\
         (`dozor-agent`), `instance` (the agent's `service.instance.id`, by default its host name)\n\
         and the promoted resource attributes `site` and `role`; the other resource attributes are on\n\
         `target_info`.\n",
    );
    for (title, metrics) in SECTIONS {
        let _ = writeln!(out, "\n## {title}\n");
        out.push_str("| Prometheus name | OpenTelemetry name | Type | Unit | Labels | Description | Source |\n");
        out.push_str("|---|---|---|---|---|---|---|\n");
        for m in metrics {
            let labels = m
                .prometheus_labels()
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                out,
                "| `{}` | `{}` | {} | `{}` | {} | {} | {} |",
                m.prometheus_name(),
                m.name,
                m.instrument.as_str(),
                m.unit,
                labels,
                m.description,
                m.source.replace('|', "\\|"),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_metric_has_a_section() {
        let listed: usize = super::SECTIONS.iter().map(|(_, m)| m.len()).sum();
        assert_eq!(listed, super::super::all().count());
    }
}
