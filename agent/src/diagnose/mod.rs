//! `dozor-agent diagnose`: every prerequisite of a working agent checked at once, each with a
//! `PASS`/`WARN`/`FAIL`/`SKIP` line and, on failure, the exact fix.
//!
//! The checks are small modules, one per thing checked, listed in [`checks`]. They run
//! concurrently, each under its own timeout, and the whole command returns within `--budget`
//! whatever hangs: a check still running then is reported as `TIMEOUT` with what it was
//! waiting on ([`Waiting`]). The first line of the output is the verdict: the first failing
//! check with its fix, or that all passed. Exit 0 when nothing failed, 1 otherwise.

mod buffer;
mod canary;
#[cfg(feature = "http_capture")]
mod capture;
mod collector;
mod config_file;
#[cfg(feature = "probes")]
mod icmp;
#[cfg(feature = "postgresql")]
mod postgres;
#[cfg(feature = "rabbitmq")]
mod rabbitmq;
pub mod report;
mod tls;

use crate::config::Config;
use crate::integrations::Paths;
use report::{Line, Outcome};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// `diagnose` options.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// The whole command returns within this long (`10s`, `500ms`, `1m`).
    #[arg(long, default_value = "10s", value_parser = parse_budget)]
    pub budget: Duration,
}

/// What every check may read.
pub struct Ctx {
    /// The loaded configuration.
    pub config: Config,
    /// Its file (`None`: the built-in default).
    pub file: Option<PathBuf>,
    /// The agent's resource attributes, as it would send them.
    pub resource: Vec<(String, String)>,
}

/// What a running check is waiting on, told to the timeout line if it never finishes.
#[derive(Clone, Default)]
pub struct Waiting(Arc<Mutex<String>>);

impl Waiting {
    /// Records what the check is doing now.
    pub fn on(&self, what: impl Into<String>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = what.into();
    }

    fn get(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

type Run = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// One check: a name (`collector.reach http://...`), its own timeout and its work.
pub struct Check {
    name: String,
    timeout: Duration,
    waiting: Waiting,
    run: Run,
}

impl Check {
    /// An async check; `make` gets the [`Waiting`] to keep current.
    pub fn new<F>(
        name: impl Into<String>,
        timeout: Duration,
        make: impl FnOnce(Waiting) -> F,
    ) -> Check
    where
        F: Future<Output = Outcome> + Send + 'static,
    {
        let waiting = Waiting::default();
        Check {
            name: name.into(),
            timeout,
            run: Box::pin(make(waiting.clone())),
            waiting,
        }
    }

    /// A check that blocks (database clients, sockets): run on a blocking thread, which is
    /// abandoned, not waited for, when it outlives its timeout.
    pub fn blocking(
        name: impl Into<String>,
        timeout: Duration,
        f: impl FnOnce(Waiting) -> Outcome + Send + 'static,
    ) -> Check {
        Check::new(name, timeout, move |w| async move {
            tokio::task::spawn_blocking(move || f(w))
                .await
                .unwrap_or_else(|e| {
                    Outcome::fail(format!("the check panicked: {e}"), "report this as a bug")
                })
        })
    }
}

/// Timeout of a check that talks to one peer (the canary has the whole budget).
pub const PEER_TIMEOUT: Duration = Duration::from_secs(5);

/// Every check for this configuration, in the order they are reported.
fn checks(ctx: &Arc<Ctx>, budget: Duration) -> Vec<Check> {
    let mut out = vec![config_file::check(ctx), buffer::check(ctx)];
    out.extend(collector::checks(ctx));
    out.push(canary::check(ctx, budget));
    #[cfg(feature = "postgresql")]
    out.extend(postgres::checks(ctx));
    #[cfg(feature = "rabbitmq")]
    out.extend(rabbitmq::checks(ctx));
    #[cfg(feature = "http_capture")]
    out.extend(capture::check(ctx));
    #[cfg(feature = "probes")]
    out.extend(icmp::check(ctx));
    out
}

/// Runs every check within `budget`: each still running when it ends is a timeout.
pub async fn run(ctx: Arc<Ctx>, budget: Duration) -> Vec<Line> {
    run_checks(checks(&ctx, budget), budget).await
}

async fn run_checks(checks: Vec<Check>, budget: Duration) -> Vec<Line> {
    // Leave room to print: the command itself must end within the budget.
    let deadline = Instant::now() + budget.saturating_sub(Duration::from_millis(300));
    let mut tasks = Vec::new();
    for check in checks {
        let started = Instant::now();
        let Check {
            name,
            timeout: limit,
            waiting,
            run,
        } = check;
        let w = waiting.clone();
        let task = tokio::spawn(async move {
            match tokio::time::timeout(limit, run).await {
                Ok(outcome) => outcome,
                Err(_) => Outcome::timeout(limit, &w.get()),
            }
        });
        tasks.push((name, waiting, started, limit, task));
    }
    let mut lines = Vec::new();
    for (name, waiting, started, limit, mut task) in tasks {
        let outcome = tokio::select! {
            // A check that finished while an earlier one held the loop keeps its result.
            biased;
            done = &mut task => done.unwrap_or_else(|e| Outcome::fail(format!("the check panicked: {e}"), "report this as a bug")),
            _ = tokio::time::sleep_until(deadline) => {
                task.abort();
                Outcome::timeout(limit.min(deadline - started), &waiting.get())
            }
        };
        lines.push(Line {
            name,
            outcome,
            duration: started.elapsed(),
        });
    }
    lines
}

/// `dozor-agent diagnose`: runs the checks and prints them.
pub fn main(
    config: Config,
    file: Option<PathBuf>,
    paths: &Paths,
    args: &Args,
) -> anyhow::Result<ExitCode> {
    let lines = collect(config, file, paths, args.budget)?;
    let failed = report::failed(&lines);
    let out = if args.json {
        report::json(&lines)
    } else {
        report::text(&lines, std::io::IsTerminal::is_terminal(&std::io::stdout()))
    };
    print!("{out}");
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs the checks on a runtime of their own, which is left behind, not waited for, so that a
/// blocked thread cannot hold the command past its budget.
pub fn collect(
    config: Config,
    file: Option<PathBuf>,
    paths: &Paths,
    budget: Duration,
) -> anyhow::Result<Vec<Line>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let resource = crate::resource::attributes(&config.resource, paths);
    let ctx = Arc::new(Ctx {
        config,
        file,
        resource,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let lines = runtime.block_on(run(ctx, budget));
    runtime.shutdown_background();
    Ok(lines)
}

/// The text of a whole diagnosis, as `diagnose` prints it (for the flare).
pub fn render(lines: &[Line], json: bool) -> String {
    if json {
        report::json(lines)
    } else {
        report::text(lines, false)
    }
}

/// Parses `10s`, `500ms`, `1m`.
fn parse_budget(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: write a duration such as 10s or 500ms"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" | "" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        _ => return Err(format!("{text:?}: the unit is ms, s or m")),
    };
    if d < Duration::from_secs(1) {
        return Err(format!("{text:?}: at least 1s"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets() {
        assert_eq!(parse_budget("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_budget("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_budget("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_budget("10x").is_err());
        assert!(parse_budget("100ms").is_err());
    }

    /// A check that never ends is cut at the budget, with what it waited on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hung_check_times_out_within_the_budget() {
        let checks = vec![
            Check::new("hangs", Duration::from_secs(60), |w| async move {
                w.on("an answer that never comes");
                std::future::pending::<Outcome>().await
            }),
            Check::new("quick", Duration::from_secs(60), |_| async {
                Outcome::pass("fine")
            }),
        ];
        let started = std::time::Instant::now();
        let lines = run_checks(checks, Duration::from_secs(2)).await;
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(lines[0].outcome.status, report::Status::Timeout);
        assert!(
            lines[0]
                .outcome
                .detail
                .contains("an answer that never comes")
        );
        assert_eq!(lines[1].outcome.status, report::Status::Pass);
    }
}
