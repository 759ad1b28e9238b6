//! Grafana dashboards (`dashboards/grafana/*.json`): storage form, variables and every query.

use crate::promql::{self, LabelSet, Schema};
use crate::{Report, files, report_findings};
use dozor_metrics::MetricDef;
use regex::Regex;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Finds the line of `"key": "value"` in a dashboard, scanning forward from the previous hit:
/// the walk visits keys in sorted order, which is the stored order.
struct Locator<'a> {
    text: &'a str,
    cursor: usize,
}

impl Locator<'_> {
    fn line(&mut self, key: &str, value: &str) -> usize {
        let needle = format!("{}: {}", Value::from(key), Value::from(value));
        let at = self.text[self.cursor..]
            .find(&needle)
            .map(|i| i + self.cursor)
            .or_else(|| self.text.find(&needle));
        match at {
            Some(i) => {
                self.cursor = i;
                self.text[..i].matches('\n').count() + 1
            }
            None => 0,
        }
    }
}

struct Dashboard<'a> {
    path: &'a Path,
    schema: &'a Schema,
    defs: &'a BTreeMap<String, &'static MetricDef>,
    locator: Locator<'a>,
    legend: &'a Regex,
    label_values: &'a Regex,
    queries: usize,
}

impl Dashboard<'_> {
    fn walk(&mut self, report: &mut Report, v: &Value) {
        match v {
            Value::Object(map) => {
                if let Some(Value::Object(ds)) = map.get("datasource")
                    && ds.get("type") == Some(&Value::from("prometheus"))
                    && ds.get("uid") != Some(&Value::from("${datasource}"))
                {
                    let shown = Value::Object(ds.clone());
                    report.add(
                        self.path,
                        0,
                        format!("datasource {shown} is not ${{datasource}}"),
                    );
                }
                if let Some(Value::String(expr)) = map.get("expr") {
                    let legend = map.get("legendFormat").and_then(Value::as_str);
                    self.panel_query(report, expr, legend);
                }
                if map.get("type") == Some(&Value::from("query")) {
                    let mut seen = BTreeSet::new();
                    for key in ["definition", "query"] {
                        let q = match map.get(key) {
                            Some(Value::String(q)) => q.as_str(),
                            Some(Value::Object(o)) => {
                                o.get("query").and_then(Value::as_str).unwrap_or("")
                            }
                            _ => "",
                        };
                        if !q.is_empty() && seen.insert(q) {
                            self.variable_query(report, key, q);
                        }
                    }
                }
                for child in map.values() {
                    self.walk(report, child);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| self.walk(report, i)),
            _ => {}
        }
    }

    fn panel_query(&mut self, report: &mut Report, expr: &str, legend: Option<&str>) {
        self.queries += 1;
        let line = self.locator.line("expr", expr);
        let analysis = promql::analyse(expr, self.schema);
        report_findings(report, self.path, &analysis, "query", |_| line);
        for s in &analysis.selectors {
            let Some(def) = s.name.as_ref().and_then(|n| self.defs.get(n)) else {
                continue;
            };
            let mut required = Vec::new();
            if def.emitter != "collector" {
                required.extend(["site", "instance"]);
            } else if def.attributes.contains(&"site") {
                required.push("site");
            }
            for label in required {
                let var = format!("${label}");
                if !s
                    .matchers
                    .iter()
                    .any(|(l, op, v)| l == label && op == "=~" && v.contains(&var))
                {
                    report.add(
                        self.path,
                        line,
                        format!(
                            "query: {} is not filtered by {label}=~\"{var}\"",
                            def.prometheus_name()
                        ),
                    );
                }
            }
        }
        if let (Some(LabelSet::Known(labels)), Some(legend)) = (&analysis.result, legend) {
            for c in self.legend.captures_iter(legend) {
                if !labels.contains(&c[1]) {
                    report.add(
                        self.path,
                        line,
                        format!(
                            "legend {{{{{}}}}}: the query's result cannot carry `{}` (it has: {})",
                            &c[1],
                            &c[1],
                            labels.iter().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    );
                }
            }
        }
    }

    fn variable_query(&mut self, report: &mut Report, key: &str, query: &str) {
        self.queries += 1;
        let line = self.locator.line(key, query);
        let (expr, label) = if let Some(c) = self.label_values.captures(query) {
            (
                c.get(1).unwrap().as_str().to_string(),
                Some(c[2].to_string()),
            )
        } else if let Some(inner) = query
            .trim()
            .strip_prefix("query_result(")
            .and_then(|q| q.strip_suffix(')'))
        {
            (inner.to_string(), None)
        } else {
            return; // label_values(label), label_names(), metrics(regex): nothing to check.
        };
        let analysis = promql::analyse(&expr, self.schema);
        report_findings(report, self.path, &analysis, "variable query", |_| line);
        if let (Some(result), Some(label)) = (&analysis.result, label)
            && !result.can_have(&label)
        {
            report.add(
                self.path,
                line,
                format!("variable query: {expr} cannot carry label `{label}`"),
            );
        }
    }
}

fn check_normalised(report: &mut Report, path: &Path, text: &str, v: &Value) {
    let stored = serde_json::to_string_pretty(v).unwrap() + "\n";
    if stored != text {
        let line = stored
            .lines()
            .zip(text.lines())
            .take_while(|(a, b)| a == b)
            .count()
            + 1;
        report.add(path, line, "not stored normalised (sorted keys, 2-space indent): run python3 dashboards/normalize.py");
    }
    fn sorted(v: &Value) -> bool {
        match v {
            Value::Object(m) => {
                m.keys().zip(m.keys().skip(1)).all(|(a, b)| a < b) && m.values().all(sorted)
            }
            Value::Array(a) => a.iter().all(sorted),
            _ => true,
        }
    }
    if !sorted(v) {
        report.add(
            path,
            0,
            "keys are not sorted: run python3 dashboards/normalize.py",
        );
    }
}

pub fn check_dashboards(
    report: &mut Report,
    schema: &Schema,
    defs: &BTreeMap<String, &'static MetricDef>,
) {
    let dir = report.root.join("dashboards/grafana");
    let mut uids = BTreeMap::new();
    let mut queries = 0;
    let legend = Regex::new(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}").unwrap();
    let label_values =
        Regex::new(r"(?s)^\s*label_values\s*\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$").unwrap();
    for path in files(&dir, ".json") {
        let text = fs::read_to_string(&path).unwrap();
        let v: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                report.add(&path, e.line(), format!("not JSON: {e}"));
                continue;
            }
        };
        check_normalised(report, &path, &text, &v);
        for key in ["id", "version"] {
            if v.get(key).is_some() {
                report.add(
                    &path,
                    0,
                    format!(
                        "top-level `{key}` must not be stored: run python3 dashboards/normalize.py"
                    ),
                );
            }
        }
        match v.get("uid").and_then(Value::as_str) {
            Some(uid) if uid.starts_with("dozor-") => {
                if let Some(other) = uids.insert(uid.to_string(), path.clone()) {
                    report.add(
                        &path,
                        0,
                        format!("uid {uid} is also used by {}", other.display()),
                    );
                }
            }
            other => report.add(
                &path,
                0,
                format!("uid must be a stable dozor-* string, not {other:?}"),
            ),
        }
        let vars: BTreeMap<&str, &Value> = v
            .pointer("/templating/list")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|var| Some((var.get("name")?.as_str()?, var)))
            .collect();
        for name in ["datasource", "site", "instance"] {
            if !vars.contains_key(name) {
                report.add(&path, 0, format!("no ${name} template variable"));
            }
        }
        if let Some(ds) = vars.get("datasource")
            && (ds.get("type") != Some(&Value::from("datasource"))
                || ds.get("query") != Some(&Value::from("prometheus")))
        {
            report.add(
                &path,
                0,
                "$datasource must be a datasource variable of type prometheus",
            );
        }
        let mut d = Dashboard {
            path: &path,
            schema,
            defs,
            locator: Locator {
                text: &text,
                cursor: 0,
            },
            legend: &legend,
            label_values: &label_values,
            queries: 0,
        };
        d.walk(report, &v);
        queries += d.queries;
    }
    if queries == 0 {
        report.add(&dir, 0, "no dashboard queries found");
    }
}
