//! Renders the metric reference (`docs/metrics.md`) from the catalogue.
//!
//! The file is generated, never edited: `tests/generated.rs` fails when it is stale and rewrites
//! it when run with `UPDATE_GOLDEN=1`.

use super::SECTIONS;
use std::fmt::Write;

/// The whole reference page.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Metric reference\n\n\
         <!-- Generated from lib/dozor-metrics/src/catalogue by `UPDATE_GOLDEN=1 cargo test -p dozor-metrics --test generated`. Do not edit. -->\n\n\
         Every metric dozor emits, with its OpenTelemetry name and the Prometheus name the collector\n\
         exposes (derived by the OpenTelemetry-to-Prometheus rules). Every series also carries `job`\n\
         (`dozor-agent`), `instance` (the agent's `service.instance.id`, by default its host name)\n\
         and the promoted resource attributes `site`, `role` and `desk`; the other resource attributes are on\n\
         `target_info`.\n",
    );
    for section in SECTIONS {
        let _ = writeln!(out, "\n## {}\n", section.title);
        out.push_str("| Prometheus name | OpenTelemetry name | Type | Unit | Labels | Description | Source |\n");
        out.push_str("|---|---|---|---|---|---|---|\n");
        for m in section.metrics {
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
