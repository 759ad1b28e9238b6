//! Checks the files that query the metrics against the catalogue that declares them.
//!
//! - Every Grafana query (`expr` of panel targets, `query`/`definition` of template variables),
//!   every alerting and recording rule in `alerts/*.rules.yml` and every `input_series` of the
//!   promtool tests selects only series the catalogue can produce (plus `target_info`, `up` and
//!   the recording rules), with matchers, `by`/`without`/`on`/`ignoring`/`group_*` labels,
//!   legends and `$labels.x` annotations using only labels those series can carry
//!   (see `content/promql.rs` for what is inferred).
//! - Alerts follow STYLE.md: `<System><Subject><Condition>` names, severity warning or critical,
//!   `for`, a static summary, a templated description, and a runbook_url whose file and heading
//!   exist; each has a promtool case that does not fire and one that does.
//! - Dashboards are stored normalised (`dashboards/normalize.py`), with stable `dozor-*` uids,
//!   the `$datasource`, `$site` and `$instance` variables, and every agent series filtered by
//!   `$site` and `$instance`.
//!
//! Every problem is reported at once, as `file:line: message`.

#[path = "content/dashboards.rs"]
mod dashboards;
#[path = "content/promql.rs"]
mod promql;
#[path = "content/rules.rs"]
mod rules;

use dozor_metrics::MetricDef;
use dozor_metrics::catalogue::{self, Instrument};
use promql::{Analysis, LabelSet, Schema};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::fs;
use std::path::{Path, PathBuf};

/// Collects problems so that all of them are reported at once.
pub(crate) struct Report {
    root: PathBuf,
    problems: Vec<String>,
}

impl Report {
    fn add(&mut self, file: &Path, line: usize, message: impl Display) {
        let shown = file.strip_prefix(&self.root).unwrap_or(file);
        self.problems
            .push(format!("{}:{line}: {message}", shown.display()));
    }
}

/// Every series name the catalogue can produce, with the labels it can carry: its attributes,
/// `job` and `instance`, and for agent series the promoted `site`, `role` and `desk`. The collector's
/// own metrics get `job` and `instance` from the scrape and nothing else.
fn catalogue_schema() -> (Schema, BTreeMap<String, &'static MetricDef>) {
    let mut schema = Schema::new();
    let mut defs = BTreeMap::new();
    for m in catalogue::all() {
        let mut labels: BTreeSet<String> = m.prometheus_labels().into_iter().collect();
        labels.extend(["job", "instance"].map(String::from));
        if m.emitter != "collector" {
            labels.extend(["site", "role", "desk"].map(String::from));
        }
        for name in m.prometheus_series_names() {
            let mut labels = labels.clone();
            if m.instrument == Instrument::Histogram && name.ends_with("_bucket") {
                labels.insert("le".into());
            }
            schema.insert(name.clone(), LabelSet::Known(labels));
            defs.insert(name, m);
        }
    }
    schema.insert("target_info".into(), LabelSet::Any);
    schema.insert("up".into(), LabelSet::Any);
    (schema, defs)
}

pub(crate) fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.to_string_lossy().ends_with(suffix))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

pub(crate) fn report_findings(
    report: &mut Report,
    path: &Path,
    analysis: &Analysis,
    what: &str,
    line_of: impl Fn(usize) -> usize,
) {
    for f in &analysis.findings {
        report.add(path, line_of(f.offset), format!("{what}: {}", f.message));
    }
}

#[test]
fn dashboards_alerts_and_runbooks_match_the_catalogue() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap();
    let mut report = Report {
        root,
        problems: Vec::new(),
    };
    let (schema, defs) = catalogue_schema();
    let mut alerts = BTreeMap::new();
    let schema = rules::check_rules(&mut report, &schema, &mut alerts);
    rules::check_promtool_tests(&mut report, &schema, &alerts);
    dashboards::check_dashboards(&mut report, &schema, &defs);
    assert!(
        report.problems.is_empty(),
        "{} problem(s):\n{}\n",
        report.problems.len(),
        report.problems.join("\n")
    );
}
