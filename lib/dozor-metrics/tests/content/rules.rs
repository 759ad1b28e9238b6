//! Alerting and recording rules (`alerts/*.rules.yml`), their promtool tests and runbooks.

use crate::promql::{self, LabelSet, Schema};
use crate::{Report, files, report_findings};
use regex::Regex;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const SEVERITIES: [&str; 2] = ["warning", "critical"];
const RUNBOOK_BASE: &str = "https://github.com/dozor-observability/dozor/blob/main/";

#[derive(Deserialize)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Deserialize)]
struct RuleGroup {
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
struct Rule {
    alert: Option<Spanned<String>>,
    record: Option<Spanned<String>>,
    expr: Spanned<String>,
    #[serde(rename = "for")]
    for_: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct TestFile {
    #[serde(default)]
    tests: Vec<TestGroup>,
}

#[derive(Deserialize)]
struct TestGroup {
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
}

#[derive(Deserialize)]
struct InputSeries {
    series: Spanned<String>,
}

#[derive(Deserialize)]
struct AlertTest {
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<IgnoredAny>,
}

/// The line of a YAML string at `offset` into its value; block scalars start a line below their key.
fn yaml_line(text: &str, value: &Spanned<String>, offset: usize) -> usize {
    let line = value.referenced.line() as usize;
    let key_line = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
    let block = ["|", "|-", "|+", ">", ">-", ">+"]
        .iter()
        .any(|b| key_line.trim_end().ends_with(&format!(": {b}")));
    let within = &value.value[..offset.min(value.value.len())];
    line + usize::from(block) + within.matches('\n').count()
}

/// GitHub's anchors for the headings of a Markdown file.
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            let title = line.trim_start_matches('#').trim();
            let slug: String = title
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
                .map(|c| if c == ' ' { '-' } else { c })
                .collect();
            out.insert(slug);
        }
    }
    out
}

/// Checks the rule files; returns the schema extended with their recording rules.
pub fn check_rules(
    report: &mut Report,
    schema: &Schema,
    alerts: &mut BTreeMap<String, (PathBuf, usize)>,
) -> Schema {
    let dir = report.root.join("alerts");
    let paths = files(&dir, ".rules.yml");
    if paths.is_empty() {
        report.add(&dir, 0, "no *.rules.yml files");
    }
    let mut parsed = Vec::new();
    for path in paths {
        let text = fs::read_to_string(&path).unwrap();
        match serde_saphyr::from_str::<RuleFile>(&text) {
            Ok(file) => parsed.push((path, text, file)),
            Err(e) => report.add(&path, 0, format!("not a Prometheus rule file: {e}")),
        }
    }
    // Recording rules may be used by any rule file and dashboard; their labels are not inferred.
    let mut schema = schema.clone();
    for (_, _, file) in &parsed {
        for rule in file.groups.iter().flat_map(|g| &g.rules) {
            if let Some(record) = &rule.record {
                schema.insert(record.value.clone(), LabelSet::Any);
            }
        }
    }
    let label_ref =
        Regex::new(r#"\$labels\.([A-Za-z_][A-Za-z0-9_]*)|index \$labels "([^"]*)""#).unwrap();
    let alert_name = Regex::new(
        r"^(Host|Container|Dozor|Postgresql|Mysql|OrderFlow|Rabbitmq|Kafka|Nats|Redis|Http|Probe|Tcp)([A-Z][a-z0-9]+){2,}$",
    )
    .unwrap();
    let runbook = Regex::new(&format!(
        r"^{}(docs/runbooks/[a-z0-9_-]+\.md)#(.+)$",
        regex::escape(RUNBOOK_BASE)
    ))
    .unwrap();
    let mut runbooks: BTreeMap<String, Option<BTreeSet<String>>> = BTreeMap::new();
    for (path, text, file) in &parsed {
        for rule in file.groups.iter().flat_map(|g| &g.rules) {
            let Some(name) = rule.alert.as_ref().or(rule.record.as_ref()) else {
                report.add(
                    path,
                    yaml_line(text, &rule.expr, 0),
                    "rule with neither `alert` nor `record`",
                );
                continue;
            };
            let line = name.referenced.line() as usize;
            let analysis = promql::analyse(&rule.expr.value, &schema);
            report_findings(report, path, &analysis, &name.value, |o| {
                yaml_line(text, &rule.expr, o)
            });
            if rule.record.is_some() {
                if !name.value.contains(':') {
                    report.add(
                        path,
                        line,
                        format!(
                            "recording rule `{}` should be named level:metric:operations",
                            name.value
                        ),
                    );
                }
                continue;
            }
            let alert = &name.value;
            alerts.entry(alert.clone()).or_insert((path.clone(), line));
            let mut problem = |m: String| report.add(path, line, format!("{alert}: {m}"));
            if !alert_name.is_match(alert) {
                problem(
                    "name is not <System><Subject><Condition> (System: Host, Container, Dozor or an integration: Postgresql, Http, Probe, Tcp, ...)"
                        .into(),
                );
            }
            if rule.for_.as_deref().is_none_or(|f| f.trim().is_empty()) {
                problem("no `for:`".into());
            }
            match rule.labels.get("severity") {
                Some(s) if SEVERITIES.contains(&s.as_str()) => {}
                other => problem(format!(
                    "severity must be warning or critical, not {other:?}"
                )),
            }
            match rule.annotations.get("summary") {
                Some(s) if !s.trim().is_empty() && !s.contains("{{") => {}
                Some(_) => {
                    problem("summary must be static text (templates go in description)".into())
                }
                None => problem("no summary annotation".into()),
            }
            match rule.annotations.get("description") {
                Some(d) if d.contains("{{") => {}
                _ => problem("description must be a template naming what fired".into()),
            }
            match rule
                .annotations
                .get("runbook_url")
                .map(|u| runbook.captures(u))
            {
                Some(Some(c)) => {
                    let (file, anchor) = (&c[1], &c[2]);
                    if anchor != alert.to_lowercase() {
                        problem(format!(
                            "runbook anchor #{anchor} is not #{}",
                            alert.to_lowercase()
                        ));
                    }
                    let headings = runbooks.entry(file.to_string()).or_insert_with(|| {
                        fs::read_to_string(report_root(path).join(file))
                            .ok()
                            .map(|t| anchors(&t))
                    });
                    match headings {
                        None => problem(format!("runbook {file} does not exist")),
                        Some(h) if !h.contains(anchor) => {
                            problem(format!("{file} has no heading for #{anchor}"))
                        }
                        Some(_) => {}
                    }
                }
                Some(None) => problem(format!(
                    "runbook_url must be {RUNBOOK_BASE}docs/runbooks/<area>.md#<alertname in lower case>"
                )),
                None => problem("no runbook_url annotation".into()),
            }
            if let Some(LabelSet::Known(labels)) = &analysis.result {
                for (key, value) in &rule.annotations {
                    for c in label_ref.captures_iter(value) {
                        let l = c.get(1).or(c.get(2)).unwrap().as_str();
                        if !labels.contains(l) && !rule.labels.contains_key(l) {
                            problem(format!(
                                "annotation {key} uses $labels.{l}, which the alert's series cannot carry (they have: {})",
                                labels.iter().cloned().collect::<Vec<_>>().join(", ")
                            ));
                        }
                    }
                }
            }
        }
    }
    schema
}

/// The repository root, seen from a file in `alerts/`.
fn report_root(rule_file: &Path) -> PathBuf {
    rule_file
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf()
}

pub fn check_promtool_tests(
    report: &mut Report,
    schema: &Schema,
    alerts: &BTreeMap<String, (PathBuf, usize)>,
) {
    let dir = report.root.join("alerts/tests");
    let mut quiet = BTreeSet::new();
    let mut firing = BTreeSet::new();
    for path in files(&dir, ".test.yml") {
        let text = fs::read_to_string(&path).unwrap();
        let file = match serde_saphyr::from_str::<TestFile>(&text) {
            Ok(f) => f,
            Err(e) => {
                report.add(&path, 0, format!("not a promtool test file: {e}"));
                continue;
            }
        };
        for group in &file.tests {
            for s in &group.input_series {
                let analysis = promql::analyse(&s.series.value, schema);
                report_findings(report, &path, &analysis, "input series", |o| {
                    yaml_line(&text, &s.series, o)
                });
            }
            for t in &group.alert_rule_test {
                if t.exp_alerts.is_empty() {
                    &mut quiet
                } else {
                    &mut firing
                }
                .insert(t.alertname.clone());
            }
        }
    }
    for (alert, (path, line)) in alerts {
        if !quiet.contains(alert) {
            report.add(
                path,
                *line,
                format!("{alert}: no promtool case where it does not fire (alerts/tests/)"),
            );
        }
        if !firing.contains(alert) {
            report.add(
                path,
                *line,
                format!("{alert}: no promtool case where it fires (alerts/tests/)"),
            );
        }
    }
}
