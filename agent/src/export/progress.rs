//! The progress of replaying a backlog found at start (left by an outage or a stopped agent):
//! a progress bar when standard error is a terminal, otherwise a log line every
//! [`LOG_EVERY`], and one when done. Only a backlog of more than [`WORTH_SHOWING`] of
//! `replay_rate` is shown: a few seconds' worth is not news.

use super::wal::Wal;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tracing::info;

/// A backlog taking longer than this to replay gets its progress shown.
const WORTH_SHOWING: Duration = Duration::from_secs(5);
/// How often the progress is logged when standard error is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// Records that may be unacknowledged in normal running (fresh batches in flight): a backlog
/// down to these is replayed.
const IN_FLIGHT: u64 = super::LIVE_QUEUE as u64 + 1;

/// Shows the replay of the backlog in `wal` until it is down to what is normally in flight.
pub async fn replay(wal: Arc<Wal>, replay_rate: u32) {
    let start = wal.backlog();
    let worth = u64::from(replay_rate).saturating_mul(WORTH_SHOWING.as_secs());
    if start.points <= worth || start.records <= IN_FLIGHT {
        return;
    }
    let total = start.records;
    let started = Instant::now();
    info!(
        records = total,
        points = start.points,
        bytes = start.bytes,
        "Replaying the backlog left from before."
    );
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(total);
        if let Ok(style) = ProgressStyle::with_template(
            "replaying backlog [{bar:30}] {pos}/{len} batches, {elapsed} elapsed, about {eta} left",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    });
    let mut tick = tokio::time::interval(if bar.is_some() {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(1)
    });
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut logged = Instant::now();
    loop {
        tick.tick().await;
        let left = wal.backlog().records;
        if left <= IN_FLIGHT {
            break;
        }
        let sent = total.saturating_sub(left);
        match &bar {
            Some(bar) => bar.set_position(sent),
            None if logged.elapsed() >= LOG_EVERY => {
                logged = Instant::now();
                info!(sent, left, total, "Replaying the backlog.");
            }
            None => {}
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    info!(
        records = total,
        seconds = started.elapsed().as_secs(),
        "Backlog replayed."
    );
}
