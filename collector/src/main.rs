//! `dozor-collector`: command line, configuration, logging, signals. Everything else is in the
//! library (`serve`).

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use dozor_collector::config::Config;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use tracing::{error, info, warn};

/// The collector allocates a few small strings per data point (protobuf decoding, labels);
/// mimalloc makes that about twice as fast as the system allocator (see `benches/ingest.rs`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long in-flight requests may take to finish after SIGTERM/SIGINT.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Exit code for configuration errors.
const EXIT_CONFIG: u8 = 2;

/// Receives OTLP metrics from dozor agents and exposes them to Prometheus.
#[derive(Debug, Parser)]
#[command(name = "dozor-collector", version, about)]
struct Cli {
    /// YAML configuration file; without one, every default applies.
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// Log filter: error, warn, info, debug, trace, or a tracing directive list.
    #[arg(
        long,
        value_name = "LEVEL",
        env = "DOZOR_LOG_LEVEL",
        default_value = "info"
    )]
    log_level: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Checks the configuration file, prints every problem, exits 2 if there is one.
    CheckConfig,
    /// Asks the running collector for its state: agents (last seen, gaps, duplicates,
    /// refusals, backlog), stores, exporters, limits in force. The first line is the verdict;
    /// exits 0 healthy, 1 something needs attention, 2 config error, 3 collector not reached.
    Status {
        /// Print the status document as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Live view of the running collector: rates per agent since `top` started, store,
    /// exporters, refusals. Keys: / filter, q or Esc or Ctrl-C quit.
    Top {
        /// Refresh interval.
        #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = duration)]
        interval: Duration,
        /// Show only agents whose id contains this text.
        #[arg(long, value_name = "TEXT", default_value = "")]
        filter: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Prints a shell completion script: `dozor-collector completions bash > /etc/bash_completion.d/dozor-collector`.
    Completions {
        /// The shell.
        shell: dozor_top::docs::Shell,
    },
    /// Writes one man page per subcommand into DIR (created if missing).
    Man {
        /// Where to write the pages.
        dir: PathBuf,
    },
}

/// Where the admin endpoint is and how to authenticate.
#[derive(Debug, clap::Args)]
struct AdminArgs {
    /// The admin endpoint, `http://HOST:PORT`; default: admin.listen of --config, else 127.0.0.1:8688.
    #[arg(long, value_name = "URL")]
    admin: Option<String>,
    /// File holding the admin token; default: admin.token_file of --config.
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
    /// Total time allowed for one request to the endpoint.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration)]
    timeout: Duration,
}

fn duration(s: &str) -> Result<Duration, String> {
    dozor_top::duration(s)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = init_logging(&cli.log_level) {
        eprintln!("dozor-collector: {e:#}");
        return ExitCode::from(EXIT_CONFIG);
    }
    let config = match load_config(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Some(code) = admin_command(cli.command.as_ref(), &config) {
        return ExitCode::from(code);
    }
    if let Some(Command::CheckConfig) = cli.command {
        if cli.config.is_none() {
            eprintln!("check-config needs --config FILE");
            return ExitCode::from(EXIT_CONFIG);
        }
        for w in config.exposure_warnings() {
            println!("warning: {w}");
        }
        println!("Configuration OK.");
        return ExitCode::SUCCESS;
    }
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = format!("{e:#}"), "Collector failed.");
            ExitCode::FAILURE
        }
    }
}

/// `status`, `top`, `completions` and `man`: their exit code; `None` for the other commands.
fn admin_command(command: Option<&Command>, config: &Config) -> Option<u8> {
    use dozor_collector::admin::{endpoint, top};
    let target = |a: &AdminArgs| {
        let flags = endpoint::Flags {
            admin: a.admin.clone(),
            token_file: a.admin_token_file.clone(),
            timeout: Some(a.timeout),
        };
        endpoint::target(&flags, config).map_err(|e| {
            println!("CONFIG ERROR: {e}");
            endpoint::EXIT_CONFIG
        })
    };
    Some(match command? {
        Command::Status { json, admin } => match target(admin) {
            Ok(t) => endpoint::status(&t, *json),
            Err(code) => code,
        },
        Command::Top {
            interval,
            filter,
            admin,
        } => match target(admin) {
            Ok(t) => match top::run(&t, *interval, filter.clone()) {
                Ok(()) => endpoint::EXIT_OK,
                Err(e) => {
                    eprintln!("dozor-collector top: {e}");
                    endpoint::EXIT_ATTENTION
                }
            },
            Err(code) => code,
        },
        Command::Completions { shell } => {
            dozor_top::docs::completions(Cli::command(), *shell, &mut std::io::stdout());
            0
        }
        Command::Man { dir } => match dozor_top::docs::man(Cli::command(), dir) {
            Ok(pages) => {
                for p in pages {
                    println!("{}", p.display());
                }
                0
            }
            Err(e) => {
                eprintln!("writing man pages to {}: {e}", dir.display());
                1
            }
        },
        Command::CheckConfig => return None,
    })
}

fn init_logging(level: &str) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .with_context(|| format!("invalid --log-level {level:?}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    Ok(())
}

/// The file's configuration, or the defaults. The error lists every problem, one per line.
fn load_config(path: Option<&Path>) -> Result<Config, dozor_config::ConfigError> {
    match path {
        Some(path) => dozor_config::load::<Config>(path),
        None => Ok(Config::default()),
    }
}

#[tokio::main]
async fn run(config: Config) -> anyhow::Result<()> {
    // Handlers first: a signal sent as soon as "Collector started." is logged must not find
    // the default action (which ends the process, for SIGHUP too).
    let mut signals = Signals::install()?;
    let mut running = dozor_collector::serve(&config)
        .await
        .context("starting the collector")?;
    for w in config.exposure_warnings() {
        warn!("{w}");
    }
    info!(version = env!("CARGO_PKG_VERSION"), "Collector started.");
    loop {
        tokio::select! {
            signal = signals.next() => {
                match signal {
                    "SIGHUP" => {
                        if let Err(e) = running.reload_tokens() {
                            error!(error = %e, "Reloading agent tokens failed; keeping the previous ones.");
                        }
                    }
                    signal => {
                        info!(signal, "Shutting down.");
                        break;
                    }
                }
            }
            e = running.failed() => {
                return Err(e).context("serving");
            }
        }
    }
    match tokio::time::timeout(SHUTDOWN_GRACE, running.shutdown()).await {
        Ok(result) => result.context("shutting down")?,
        Err(_) => {
            warn!(grace = ?SHUTDOWN_GRACE, "In-flight requests did not finish; stopping anyway.")
        }
    }
    info!("Collector stopped.");
    Ok(())
}

/// SIGTERM and SIGINT stop the collector; SIGHUP re-reads `auth.tokens_file`.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            hup: signal(SignalKind::hangup()).context("installing the SIGHUP handler")?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
            _ = self.hup.recv() => "SIGHUP",
        }
    }
}
