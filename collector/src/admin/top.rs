//! `dozor-collector top`: per agent, the rates since `top` started (points, requests, batches,
//! refusals), gaps and duplicates since then, the backlog agents report, and the collector's
//! store, exporters and refusals, refreshed every `--interval`.

use super::endpoint;
use super::snapshot::Status;
use super::status::seconds;
use dozor_top::rates::cell;
use dozor_top::{Model, Rates, Table, Target};
use std::time::Duration;

/// Runs the live view until the user quits.
pub fn run(target: &Target, interval: Duration, filter: String) -> std::io::Result<()> {
    let mut rates = Rates::new();
    let mut started: Option<f64> = None;
    dozor_top::terminal::run(interval, filter, || {
        let s = endpoint::fetch(target).map_err(|e| e.to_string())?;
        let since = *started.get_or_insert(s.uptime_seconds);
        Ok(model(&s, &mut rates, since, &target.address, interval))
    })
}

/// One screen from one status document; `since` is the uptime at `top`'s first sample.
pub fn model(
    s: &Status,
    rates: &mut Rates,
    since: f64,
    address: &str,
    interval: Duration,
) -> Model {
    let at = s.uptime_seconds;
    let mut rows = Vec::new();
    for a in &s.agents {
        let refused: u64 = a.refusals.values().sum();
        let id = &a.id;
        let gaps = rates.delta(&format!("{id}\0gaps"), a.gaps as f64, at);
        let dups = rates.delta(&format!("{id}\0dups"), a.duplicates as f64, at);
        let mut rate = |k: &str, v: u64| rate_of(rates, id, k, v, at);
        let cells = [
            cell(rate("points", a.points)),
            cell(rate("requests", a.requests)),
            cell(rate("batches", a.accepted_batches)),
            cell(rate("refused", refused)),
        ];
        rows.push(vec![
            a.id.clone(),
            if a.site.is_empty() {
                "-".into()
            } else {
                a.site.clone()
            },
            cells[0].clone(),
            cells[1].clone(),
            cells[2].clone(),
            cells[3].clone(),
            gaps.map_or("0".into(), |d| format!("{}", d.0)),
            dups.map_or("0".into(), |d| format!("{}", d.0)),
            a.backlog.as_ref().map_or("-".into(), |b| {
                format!("{} pts {}", b.pending_points, seconds(b.oldest_age_seconds))
            }),
        ]);
    }
    let c = &s.counters;
    let mut rate = |k: &str, v: u64| rate_of(rates, "", k, v, at);
    let total = format!(
        "received points/s {}   requests/s {}   refused requests/s {}   dropped points/s {}   log records/s {}",
        cell(rate("points", c.received_points)),
        cell(rate("requests", c.accepted_requests)),
        cell(rate("refused", c.refused_requests)),
        cell(rate("dropped", c.dropped_points)),
        cell(rate("logs", c.received_log_records)),
    );
    let st = &s.stores;
    let store = format!(
        "store: {} series of {}   agents {}   ledger errors {}",
        st.series, st.max_series, st.agents, st.ledger_errors
    );
    let exporters = s
        .exporters
        .iter()
        .map(|e| {
            format!(
                "{} {} ({} waiting, {} failed)",
                e.name, e.state, e.pending, e.errors
            )
        })
        .collect::<Vec<_>>()
        .join("   ");
    let mut lines = vec![total, store, format!("exporters: {exporters}")];
    if let Some(a) = s.attention.first() {
        lines.push(format!("attention: {}", a.problem));
    }
    Model {
        title: format!(
            "dozor-collector {} at {address}   up {}   rates over the last {} (since top started), refresh {}",
            s.version,
            seconds(at),
            seconds(at - since),
            seconds(interval.as_secs_f64())
        ),
        lines,
        tables: vec![Table {
            title: format!(" agents ({}) ", s.agents.len()),
            header: [
                "AGENT",
                "SITE",
                "POINTS/S",
                "REQ/S",
                "BATCHES/S",
                "REFUSED/S",
                "GAPS",
                "DUPS",
                "BACKLOG",
            ]
            .map(String::from)
            .to_vec(),
            rows,
        }],
    }
}

fn rate_of(rates: &mut Rates, id: &str, what: &str, v: u64, at: f64) -> Option<f64> {
    rates.per_second(&format!("{id}\0{what}"), v as f64, at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::snapshot::Agent;

    #[test]
    fn rates_are_since_top_started() {
        let mut s = Status {
            version: "0.1.0".into(),
            uptime_seconds: 1000.0,
            agents: vec![Agent {
                id: "ws-1".into(),
                points: 1_000_000,
                gaps: 7,
                ..Agent::default()
            }],
            ..Status::default()
        };
        let mut rates = Rates::new();
        let m = model(&s, &mut rates, 1000.0, "a", Duration::from_secs(1));
        assert_eq!(m.tables[0].rows[0][2], "-", "no rate from one sample");
        s.uptime_seconds = 1010.0;
        s.agents[0].points += 500;
        s.agents[0].gaps += 2;
        let m = model(&s, &mut rates, 1000.0, "a", Duration::from_secs(1));
        assert_eq!(m.tables[0].rows[0][2], "50.0");
        assert_eq!(m.tables[0].rows[0][6], "2", "gaps since top started");
        assert!(m.title.contains("over the last 10s"), "{}", m.title);
    }
}
