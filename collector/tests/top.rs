//! `dozor-collector top` in a real pseudo-terminal (tmux): two agents send batches at known
//! rates; the rates `top` shows per agent are compared with the collector's own counters
//! (`/metrics` deltas over the same window), then `q` quits with exit 0 and the terminal
//! restored (alternate screen left, canonical mode and echo back on).

mod common;

use common::proc::Collector;
use common::*;
use dozor_testkit::{Tmux, http_get, wait_for};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_dozor-collector");

fn metrics(c: &Collector) -> String {
    http_get(&c.prometheus.to_string(), "/metrics").unwrap().1
}

fn batches(m: &str, agent: &str) -> f64 {
    must(
        m,
        &format!("dozor_collector_delivery_accepted_batches_total{{agent=\"{agent}\"}}"),
    )
}

fn received(m: &str) -> f64 {
    ["otlp_grpc", "otlp_http"]
        .iter()
        .map(|r| {
            must(
                m,
                &format!("dozor_collector_received_points_total{{receiver=\"{r}\"}}"),
            )
        })
        .sum()
}

/// The cells of `agent`'s row on the screen, once its rates are numbers.
fn row(screen: &str, agent: &str) -> Option<Vec<String>> {
    let cells: Vec<String> = screen
        .lines()
        .find(|l| l.split_whitespace().next() == Some(agent))?
        .split_whitespace()
        .map(String::from)
        .collect();
    cells.get(4)?.parse::<f64>().ok()?;
    Some(cells)
}

/// The window `top` says its rates cover, in seconds.
fn window(screen: &str) -> Option<u64> {
    let rest = screen.split("over the last ").nth(1)?;
    rest.split("s (since").next()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn top_shows_the_rates_the_collector_counts_and_quits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path(), "admin:\n  listen: 127.0.0.1:0\n");
    assert!(c.wait_for_log("Admin endpoint listening."));
    let admin: SocketAddr = c
        .log()
        .iter()
        .find(|l| l.contains("Admin endpoint listening."))
        .and_then(|l| l.split("address=").nth(1)?.trim().parse().ok())
        .unwrap();
    // Before top starts, a burst from ws-1 that lifetime totals would show as a rate.
    for seq in 1..=300 {
        let h = batch_headers("ws-1", "00000000000000bb", seq, 1);
        assert_eq!(
            post(c.http, &delta_request("ws-1", 1.0), &h).await.status,
            200
        );
    }
    // Then ws-1 sends a batch every 50 ms, ws-2 every 100 ms; two points each.
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for (agent, every, first) in [("ws-1", 50u64, 300), ("ws-2", 100, 0)] {
        let (stop, http) = (stop.clone(), c.http);
        senders.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(every));
            let mut seq = first;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                seq += 1;
                let h = batch_headers(agent, "00000000000000bb", seq, 1);
                assert_eq!(post(http, &delta_request(agent, 1.0), &h).await.status, 200);
            }
        }));
    }
    let shell =
        format!("{BIN} top --admin {admin} --interval 1s; echo TOP-EXITED=$?; stty -a; sleep 600");
    let tmux = Tmux::start("collector-top", 200, 50, &shell);
    // The first screen with rates: top's window has just begun.
    let first = wait_for(Duration::from_secs(30), || {
        let s = tmux.screen();
        (row(&s, "ws-1").is_some() && row(&s, "ws-2").is_some()).then_some(s)
    })
    .unwrap_or_else(|| panic!("no rates on screen:\n{}", tmux.screen()));
    let (m0, t0) = (metrics(&c), Instant::now());
    assert!(window(&first).is_some_and(|w| w <= 3), "{first}");
    let screen = wait_for(Duration::from_secs(60), || {
        let s = tmux.screen();
        window(&s).filter(|w| *w >= 8).map(|_| s)
    })
    .unwrap_or_else(|| panic!("the window did not grow:\n{}", tmux.screen()));
    let (m1, t1) = (metrics(&c), Instant::now());
    let seconds = (t1 - t0).as_secs_f64();
    // top's window (its first sample to its last refresh) and ours (/metrics at t0 and t1)
    // both span at least 8 s and differ by at most one refresh interval (1 s) at each end;
    // at steady rates that changes nothing, and a sender slowed by a loaded machine moves
    // the two by at most 2 s of 8: 25%.
    let close = |shown: f64, counted: f64, what: &str| {
        assert!(
            (shown - counted).abs() <= 0.25 * counted,
            "{what}: top shows {shown}/s, the collector counted {counted:.2}/s\n{screen}"
        );
    };
    let mut points_shown = 0.0;
    for agent in ["ws-1", "ws-2"] {
        let cells = row(&screen, agent).unwrap();
        let (points, batches_shown): (f64, f64) =
            (cells[2].parse().unwrap(), cells[4].parse().unwrap());
        let counted = (batches(&m1, agent) - batches(&m0, agent)) / seconds;
        close(batches_shown, counted, &format!("{agent} batches"));
        points_shown += points;
    }
    close(
        points_shown,
        (received(&m1) - received(&m0)) / seconds,
        "points, both agents",
    );
    // Not lifetime totals: the burst before top started is not in its rates.
    assert!(batches(&m0, "ws-1") > 300.0);

    // The filter: only ws-2 stays.
    tmux.keys(&["/", "ws-2", "Enter"]);
    wait_for(Duration::from_secs(10), || {
        let s = tmux.screen();
        (row(&s, "ws-1").is_none() && row(&s, "ws-2").is_some() && s.contains("filter: ws-2"))
            .then_some(())
    })
    .unwrap_or_else(|| panic!("filter not applied:\n{}", tmux.screen()));

    tmux.keys(&["q"]);
    let after = wait_for(Duration::from_secs(10), || {
        let s = tmux.screen();
        (s.contains("TOP-EXITED=") && s.contains("icanon")).then_some(s)
    })
    .unwrap_or_else(|| panic!("top did not quit:\n{}", tmux.screen()));
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.await.unwrap();
    }
    assert!(after.contains("TOP-EXITED=0"), "{after}");
    // Restored: the alternate screen is gone, the line discipline is cooked and echoes.
    assert!(!after.contains("BATCHES/S"), "{after}");
    let words: Vec<&str> = after.split_whitespace().collect();
    for flag in ["icanon", "echo", "isig"] {
        assert!(words.contains(&flag), "{flag} not restored:\n{after}");
    }
}
