//! The OpenTelemetry-to-Prometheus naming rules.
//!
//! Follows the OpenTelemetry specification's "Prometheus and OpenMetrics compatibility" section
//! and the contrib translator (`pkg/translator/prometheus`): invalid characters become `_`, the
//! unit is appended as a word (`By` -> `bytes`, `s` -> `seconds`, `{packet}` -> nothing), gauges
//! with unit `1` get `_ratio`, and monotonic sums get `_total`.

use crate::exposition::Kind;

/// The Prometheus metric family name for an OpenTelemetry metric.
pub fn metric_name(name: &str, unit: &str, kind: Kind) -> String {
    let sanitized = sanitize(name, false);
    let mut tokens: Vec<&str> = sanitized.split('_').filter(|t| !t.is_empty()).collect();
    if kind == Kind::Counter {
        tokens.retain(|t| *t != "total");
    }
    let (main, per) = unit_words(unit);
    for word in [main.as_deref(), per.as_deref()].into_iter().flatten() {
        for part in word.split('_') {
            if !tokens.contains(&part) {
                tokens.push(part);
            }
        }
    }
    if kind == Kind::Gauge && unit == "1" {
        tokens.retain(|t| *t != "ratio");
        tokens.push("ratio");
    }
    if kind == Kind::Counter {
        tokens.push("total");
    }
    let mut out = tokens.join("_");
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The Prometheus label name for an OpenTelemetry attribute key.
pub fn label_name(key: &str) -> String {
    let mut out = sanitize(key, true);
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    } else if out.starts_with("__") && !key.starts_with("__") {
        out.insert_str(0, "key");
    }
    out
}

/// Replaces characters outside `[a-zA-Z0-9_:]` (labels: `[a-zA-Z0-9_]`) with `_`, collapsing runs.
fn sanitize(s: &str, label: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let ok = c.is_ascii_alphanumeric() || c == '_' || (!label && c == ':');
        let c = if ok { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    out
}

/// The words a UCUM unit contributes to a name: (`bytes`, None), (`bytes`, `per_second`).
fn unit_words(unit: &str) -> (Option<String>, Option<String>) {
    // Annotations in braces carry no unit ("{packet}", "By{compressed}" keeps "By").
    let mut cleaned = String::new();
    let mut depth = 0;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            _ if depth == 0 => cleaned.push(c),
            _ => {}
        }
    }
    let cleaned = cleaned.trim();
    if cleaned.is_empty() || cleaned == "1" {
        return (None, None);
    }
    let (main, per) = match cleaned.split_once('/') {
        Some((m, p)) => (m, Some(p)),
        None => (cleaned, None),
    };
    let main = (!main.is_empty())
        .then(|| sanitize(main_unit(main).unwrap_or(main), true))
        .filter(|w| !w.is_empty());
    let per = per
        .filter(|p| !p.is_empty())
        .map(|p| format!("per_{}", sanitize(per_unit(p).unwrap_or(p), true)));
    (main, per)
}

fn main_unit(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        _ => return None,
    })
}

fn per_unit(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_follow_the_translator() {
        let cases = [
            (
                "system.cpu.time",
                "s",
                Kind::Counter,
                "system_cpu_time_seconds_total",
            ),
            (
                "system.cpu.utilization",
                "1",
                Kind::Gauge,
                "system_cpu_utilization_ratio",
            ),
            (
                "system.memory.usage",
                "By",
                Kind::Gauge,
                "system_memory_usage_bytes",
            ),
            (
                "system.network.packets",
                "{packet}",
                Kind::Counter,
                "system_network_packets_total",
            ),
            (
                "system.cpu.load_average.1m",
                "{thread}",
                Kind::Gauge,
                "system_cpu_load_average_1m",
            ),
            (
                "http.server.request.duration",
                "s",
                Kind::Histogram,
                "http_server_request_duration_seconds",
            ),
            (
                "dozor.collector.agent.last_seen_timestamp",
                "s",
                Kind::Gauge,
                "dozor_collector_agent_last_seen_timestamp_seconds",
            ),
            ("requests.total", "1", Kind::Counter, "requests_total"),
            ("net.io", "By/s", Kind::Gauge, "net_io_bytes_per_second"),
            ("latency_seconds", "s", Kind::Gauge, "latency_seconds"),
            ("9lives", "", Kind::Gauge, "_9lives"),
            ("a..b--c", "", Kind::Gauge, "a_b_c"),
            (
                "container.cpu.limit",
                "{cpu}",
                Kind::Gauge,
                "container_cpu_limit",
            ),
        ];
        for (name, unit, kind, want) in cases {
            assert_eq!(
                metric_name(name, unit, kind),
                want,
                "{name} [{unit}] {kind:?}"
            );
        }
    }

    #[test]
    fn label_names_are_sanitized() {
        assert_eq!(label_name("cpu.mode"), "cpu_mode");
        assert_eq!(label_name("host.name"), "host_name");
        assert_eq!(label_name("1st"), "key_1st");
        assert_eq!(label_name("http-method"), "http_method");
        assert_eq!(label_name("a:b"), "a_b");
    }
}
