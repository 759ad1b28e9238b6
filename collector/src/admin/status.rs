//! `dozor-collector status`: the verdict first (what needs attention and its fix), then agents,
//! stores, exporters, limits in force and counters. The problems are found on the server side
//! ([`attention`]), so `--json` and the text agree.

use super::snapshot::{Agent, Attention, Status};
use std::fmt::Write;

/// The problems in `s`, most serious first: data lost (gaps, ledger), senders refused, agents
/// silent, bounds nearly reached, exporters falling behind.
pub fn attention(s: &Status, now_ms: u64, silent_after: f64) -> Vec<Attention> {
    let mut out = Vec::new();
    let mut add = |problem: String, fix: &str| {
        out.push(Attention {
            problem,
            fix: fix.to_string(),
        })
    };
    for a in &s.agents {
        if a.gaps > 0 {
            add(
                format!(
                    "agent {}: {} batches missing (gaps in its sequence numbers): data lost",
                    a.id, a.gaps
                ),
                "the agent dropped them (buffer full, or deleted): see its log, raise exporters.otlp.buffer.max_bytes, run `dozor-agent status` on it",
            );
        }
    }
    if s.stores.ledger_errors > 0 {
        add(
            format!("delivery ledger: {} errors", s.stores.ledger_errors),
            "free space on the disk of delivery.ledger_path; batches are refused until it can be written",
        );
    }
    for a in &s.agents {
        for (reason, n) in &a.refusals {
            let fix = match reason.as_str() {
                "unauthenticated" => {
                    "give the agent a token listed in auth.tokens_file (its auth.token_file), then SIGHUP the collector"
                }
                "rate_limited" => {
                    "raise limits.per_agent.points_per_second, or collect less on that agent"
                }
                "memory_limit" | "memory_reserved" => {
                    "raise limits.memory.limit, or add a collector behind the load balancer"
                }
                "shutting_down" => "none if the collector was restarting; the agent retries",
                _ => {
                    "see dozor_collector_refused_requests_total{reason} and docs/runbooks/collector.md"
                }
            };
            add(
                format!("{} {}: {n} requests refused ({reason})", who(a), a.id),
                fix,
            );
        }
    }
    for a in s.agents.iter().filter(|a| a.named) {
        if let Some(last) = a.last_seen_unix_ms {
            let silent = now_ms.saturating_sub(last) as f64 / 1000.0;
            if silent > silent_after {
                add(
                    format!("agent {}: silent for {}", a.id, seconds(silent)),
                    "check that dozor-agent runs there and reaches the collector (`dozor-agent diagnose`)",
                );
            }
        }
        if let Some(b) = &a.backlog
            && b.oldest_age_seconds > silent_after
        {
            add(
                format!(
                    "agent {}: backlog {} behind ({} points)",
                    a.id,
                    seconds(b.oldest_age_seconds),
                    b.pending_points
                ),
                "the agent cannot deliver as fast as it collects: see `dozor-agent status` on it",
            );
        }
    }
    let st = &s.stores;
    if st.max_series > 0 && st.series * 10 >= st.max_series * 9 {
        add(
            format!(
                "store: {} series of store.max_series {}",
                st.series, st.max_series
            ),
            "raise store.max_series (memory permitting), or find the agent with too many series",
        );
    }
    for e in &s.exporters {
        if let Some(age) = e.oldest_pending_age_seconds
            && e.pending > 0
            && age > silent_after
        {
            add(
                format!(
                    "exporter {} {}: {} samples waiting, the oldest for {}",
                    e.name,
                    e.endpoint,
                    e.pending,
                    seconds(age)
                ),
                "check that the endpoint is reachable and accepts writes: dozor_collector_remote_write_requests_total{status} and the collector log (docs/remote-write.md)",
            );
        } else if e.pending > 0 && e.errors > 0 {
            add(
                format!(
                    "exporter {}: {} batches waiting, {} failed requests",
                    e.name, e.pending, e.errors
                ),
                "check that its endpoints are reachable and accept the requests (collector log)",
            );
        }
    }
    out
}

fn who(a: &Agent) -> &'static str {
    if a.named { "agent" } else { "sender" }
}

/// `75s` as `1m15s`.
pub fn seconds(s: f64) -> String {
    let s = s.max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{}s", s / 60, s % 60),
        _ => format!("{}h{}m", s / 3600, s % 3600 / 60),
    }
}

/// The verdict line: `OK: ...` or `ATTENTION: <problem> -- fix: <fix>`.
pub fn verdict(s: &Status) -> String {
    match s.attention.first() {
        None => format!(
            "OK: dozor-collector {} up {}, {} agents, nothing needs attention",
            s.version,
            seconds(s.uptime_seconds),
            s.agents.iter().filter(|a| a.named).count()
        ),
        Some(a) => format!("ATTENTION: {} -- fix: {}", a.problem, a.fix),
    }
}

/// The whole text report; `now_ms` for "last seen" ages.
pub fn render(s: &Status, now_ms: u64) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{}", verdict(s));
    for a in s.attention.iter().skip(1) {
        let _ = writeln!(o, "  also: {} -- fix: {}", a.problem, a.fix);
    }
    let _ = writeln!(o, "\nAgents ({})", s.agents.len());
    let mut rows = vec![
        [
            "AGENT",
            "SITE",
            "LAST SEEN",
            "POINTS",
            "BATCHES",
            "GAPS",
            "DUPLICATES",
            "REFUSALS",
            "BACKLOG",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for a in &s.agents {
        let seen = a.last_seen_unix_ms.map_or("-".into(), |t| {
            format!("{} ago", seconds(now_ms.saturating_sub(t) as f64 / 1000.0))
        });
        let refusals = if a.refusals.is_empty() {
            "-".to_string()
        } else {
            a.refusals
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let backlog = a.backlog.as_ref().map_or("-".into(), |b| {
            format!(
                "{} points, {}",
                b.pending_points,
                seconds(b.oldest_age_seconds)
            )
        });
        rows.push(vec![
            a.id.clone(),
            if a.site.is_empty() {
                "-".into()
            } else {
                a.site.clone()
            },
            seen,
            a.points.to_string(),
            a.accepted_batches.to_string(),
            a.gaps.to_string(),
            a.duplicates.to_string(),
            refusals,
            backlog,
        ]);
    }
    table(&mut o, &rows);
    let st = &s.stores;
    let _ = writeln!(o, "\nStores");
    let _ = writeln!(
        o,
        "  series {} of {}; agents {}; ledger {} ({} errors{})",
        st.series,
        st.max_series,
        st.agents,
        st.ledger_path.as_deref().unwrap_or("in memory"),
        st.ledger_errors,
        st.ledger_free_bytes
            .map_or(String::new(), |f| format!(", {f} bytes free"))
    );
    let _ = writeln!(o, "\nExporters");
    for e in &s.exporters {
        let _ = writeln!(
            o,
            "  {} {} {}: {} batches ({} bytes) waiting, {} failed requests{}",
            e.name,
            e.endpoint,
            e.state,
            e.pending,
            e.pending_bytes,
            e.errors,
            e.last_error
                .as_deref()
                .map_or(String::new(), |l| format!(", last error: {l}"))
        );
    }
    let _ = writeln!(o, "\nLimits in force");
    for (k, v) in &s.limits {
        let _ = writeln!(o, "  {k}: {v}");
    }
    let c = &s.counters;
    let _ = writeln!(o, "\nCounters since start");
    let _ = writeln!(
        o,
        "  received points {}, accepted requests {}, refused requests {}, dropped points {}, log records {}, missing batches {}, duplicate batches {}",
        c.received_points,
        c.accepted_requests,
        c.refused_requests,
        c.dropped_points,
        c.received_log_records,
        c.missing_batches,
        c.duplicate_batches
    );
    o
}

fn table(o: &mut String, rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(o, "  {}", line.join("  ").trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::snapshot::Backlog;

    fn agent(id: &str) -> Agent {
        Agent {
            id: id.into(),
            named: true,
            last_seen_unix_ms: Some(1_000_000),
            ..Agent::default()
        }
    }

    #[test]
    fn gaps_and_refusals_need_attention_first_line_names_the_fix() {
        let mut s = Status {
            version: "0.1.0".into(),
            agents: vec![agent("ws-1"), agent("ws-2")],
            ..Status::default()
        };
        assert!(attention(&s, 1_001_000, 300.0).is_empty());
        assert!(verdict(&s).starts_with("OK: dozor-collector 0.1.0 up 0s, 2 agents"));
        s.agents[1].gaps = 3;
        s.agents[0].refusals.insert("unauthenticated".into(), 2);
        s.agents[0].backlog = Some(Backlog {
            pending_points: 10.0,
            oldest_age_seconds: 1.0,
        });
        s.attention = attention(&s, 1_001_000, 300.0);
        let text = render(&s, 1_001_000);
        let first = text.lines().next().unwrap();
        assert!(
            first.starts_with("ATTENTION: agent ws-2: 3 batches missing"),
            "{text}"
        );
        assert!(first.contains("fix: "), "{text}");
        assert!(
            text.contains("also: agent ws-1: 2 requests refused (unauthenticated)"),
            "{text}"
        );
        assert!(text.contains("unauthenticated=2"), "{text}");
        assert!(text.contains("10 points, 1s"), "{text}");
        assert_eq!(
            attention(&s, 1_000_000 + 400_000, 300.0).len(),
            4,
            "both silent"
        );
    }

    #[test]
    fn a_remote_write_backlog_older_than_silent_after_needs_attention() {
        use crate::admin::snapshot::Exporter;
        let mut s = Status {
            exporters: vec![Exporter {
                name: "remote_write".into(),
                endpoint: "http://vm:8428/api/v1/write".into(),
                pending: 500,
                oldest_pending_age_seconds: Some(299.0),
                ..Exporter::default()
            }],
            ..Status::default()
        };
        assert!(attention(&s, 0, 300.0).is_empty(), "not yet behind");
        s.exporters[0].oldest_pending_age_seconds = Some(301.0);
        let a = attention(&s, 0, 300.0);
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(
            a[0].problem,
            "exporter remote_write http://vm:8428/api/v1/write: 500 samples waiting, the oldest for 5m1s"
        );
        assert!(a[0].fix.contains("remote_write_requests_total"), "{a:?}");
    }
}
