//! `dozor-agent`: collects host, container and service telemetry and sends it over OTLP.
//!
//! CLI, configuration, logging and start-up only; the work lives in the modules below.

// A build without some integrations (a workstation build, `--no-default-features --features
// host`) leaves unused the parts of the seam that only they use: the log sink (flow), the
// instances section (postgresql, mysql, sql).
#![cfg_attr(
    not(all(
        feature = "flow",
        feature = "postgresql",
        feature = "mysql",
        feature = "sql"
    )),
    allow(dead_code, unused_imports)
)]

mod admin;
mod config;
mod diagnose;
mod export;
mod flare;
mod integrations;
mod once;
mod resource;
mod scheduler;
mod sink;
mod top;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use config::Config;
use integrations::Paths;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tracing::info;

/// Exit code for configuration errors, as documented.
const EXIT_CONFIG: u8 = 2;

#[derive(Parser)]
#[command(
    name = "dozor-agent",
    version,
    about = "dozor agent: host, container and service telemetry over OTLP"
)]
struct Cli {
    /// Configuration file (YAML). Without it, a default for this machine: the host integration,
    /// exported to a collector on 127.0.0.1:4317.
    #[arg(long, global = true, env = "DOZOR_AGENT_CONFIG")]
    config: Option<PathBuf>,
    /// procfs mount point.
    #[arg(long = "path.procfs", global = true)]
    procfs: Option<PathBuf>,
    /// sysfs mount point.
    #[arg(long = "path.sysfs", global = true)]
    sysfs: Option<PathBuf>,
    /// Prefix for file system mount points.
    #[arg(long = "path.rootfs", global = true)]
    rootfs: Option<PathBuf>,
    /// Log filter: error, warn, info, debug, trace, or tracing directives such as
    /// `info,dozor_agent::export::ledger=info` (the per-batch ledger target stays at warn
    /// unless named).
    #[arg(long, global = true, default_value = "info", env = "DOZOR_LOG")]
    log_level: String,
    /// Admin endpoint of the running agent for the admin commands (`status`, ...): URL such as
    /// `http://127.0.0.1:8687`. Default: the configuration's `admin.listen`.
    #[arg(long, global = true, value_name = "URL")]
    admin: Option<String>,
    /// File holding the admin token. Default: the configuration's `admin.token_file`.
    #[arg(long, global = true, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run: collect on schedule and export (the default).
    Run,
    /// Validate the configuration file and exit: 0 when valid, 2 with every problem listed.
    CheckConfig,
    /// Run every enabled integration once and print the result.
    Collect {
        /// Collect once and exit (the only mode for now; required so that a future streaming
        /// mode does not change this command's meaning).
        #[arg(long, required = true)]
        once: bool,
        /// Output format.
        #[arg(long, value_enum, default_value = "prometheus")]
        format: once::OutputFormat,
    },
    /// Show the running agent's state: integrations, buffer, export, drops. The first line is
    /// the verdict. Exit 0 healthy, 1 something needs attention, 3 the agent could not be read.
    Status {
        /// The status document as JSON (docs/admin.md).
        #[arg(long)]
        json: bool,
    },
    /// Run one configured integration once and show what it read, with its timing. Exit 0 ok,
    /// 1 it failed, 2 no such integration (the configured names are listed).
    Check {
        /// The integration: its name as `status` shows it (`host`, `postgresql/shop`), or a
        /// section name for all its instances (`postgresql`).
        name: String,
        /// Output format; a table on a terminal, Prometheus text otherwise.
        #[arg(long, value_enum)]
        format: Option<once::CheckFormat>,
    },
    /// Check every prerequisite (config, buffer, collector, TLS, token, clock, grants, a canary
    /// read back end to end): exit 0 when all pass, 1 with the first failure and its fix.
    Diagnose(diagnose::Args),
    /// Write one .tar.gz for support: redacted config, status, diagnose, logs, host facts.
    Flare(flare::Args),
    /// Live view of the running agent: rates per integration since `top` started, buffer,
    /// export state, drops. Keys: / filter, q or Esc or Ctrl-C quit.
    Top(top::TopArgs),
    /// Prints a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: dozor_top::docs::Shell },
    /// Writes one man page per subcommand into DIR.
    Man { dir: PathBuf },
}

fn main() -> ExitCode {
    one_malloc_arena();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(log_filter(&cli.log_level))
                .unwrap_or_else(|_| log_filter("info").into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = match load_config(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let paths = Paths {
        procfs: cli
            .procfs
            .or(config.paths.procfs.clone())
            .unwrap_or_else(|| "/proc".into()),
        sysfs: cli
            .sysfs
            .or(config.paths.sysfs.clone())
            .unwrap_or_else(|| "/sys".into()),
        rootfs: cli
            .rootfs
            .or(config.paths.rootfs.clone())
            .unwrap_or_else(|| "/".into()),
    };
    let config_file = cli.config.as_ref().map(|p| p.display().to_string());
    let cli_admin = (cli.admin.clone(), cli.admin_token_file.clone());
    let result = match cli.command.unwrap_or(Command::Run) {
        Command::CheckConfig => {
            println!(
                "{}: configuration is valid",
                cli.config
                    .as_deref()
                    .map_or("(default)".into(), |p| p.display().to_string())
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Collect { once: _, format } => {
            let resource = resource::attributes(&config.resource, &paths);
            // No exporter, so no logs outbox: lost-order events are logged only, and flow
            // state is not saved (nothing is marked reported).
            let ctx = context(&config, paths, None, false);
            let scheduled = config.integrations.build(&ctx);
            let (out, failed) = once::collect(scheduled, &resource, &promoted(), format);
            print!("{out}");
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Status { json } => Ok(status(&cli_admin, &config, json)),
        Command::Check { name, format } => {
            let resource = resource::attributes(&config.resource, &paths);
            let ctx = context(&config, paths, None, false);
            let scheduled = config.integrations.build(&ctx);
            let format =
                format.unwrap_or(if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                    once::CheckFormat::Table
                } else {
                    once::CheckFormat::Prometheus
                });
            Ok(ExitCode::from(once::check(
                scheduled,
                &name,
                &resource,
                &promoted(),
                format,
            )))
        }
        Command::Run => run(config, paths, config_file),
        Command::Diagnose(args) => diagnose::main(config, cli.config.clone(), &paths, &args),
        Command::Flare(args) => flare::main(config, cli.config.clone(), &paths, &args, &cli_admin),
        Command::Top(args) => Ok(ExitCode::from(top::run(args, &cli_admin, &config))),
        Command::Completions { shell } => {
            dozor_top::docs::completions(Cli::command(), shell, &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { dir } => dozor_top::docs::man(Cli::command(), &dir)
            .map(|_| ExitCode::SUCCESS)
            .with_context(|| format!("writing man pages to {}", dir.display())),
    };
    result.unwrap_or_else(|e| {
        eprintln!("dozor-agent: {e:#}");
        ExitCode::FAILURE
    })
}

/// `dozor-agent status`: reads the running agent's admin endpoint and prints the verdict first.
fn status(
    (admin, token_file): &(Option<String>, Option<PathBuf>),
    config: &Config,
    json: bool,
) -> ExitCode {
    use admin::{client, report};
    let color = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let got = client::Client::from_config(
        admin.as_deref(),
        token_file.as_deref(),
        &config.admin,
        client::DEFAULT_TIMEOUT,
    )
    .and_then(|c| c.status());
    match got {
        Ok(status) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&status).unwrap_or_default()
                );
            } else {
                print!("{}", report::render(&status, color));
            }
            ExitCode::from(report::exit_code(&status))
        }
        Err(e) => {
            if json {
                let doc = serde_json::json!({
                    "reachable": false,
                    "error": e.to_string(),
                    "fix": e.fix(),
                });
                println!("{doc:#}");
            } else {
                println!("{}", report::unreachable(&e, color));
            }
            ExitCode::from(report::EXIT_UNREACHABLE)
        }
    }
}

/// Starts the admin endpoint when configured; the agent runs on without it if it cannot listen.
fn start_admin(config: &config::AdminConfig, board: Arc<admin::Board>) {
    let Some(addr) = config.address() else {
        info!("Admin endpoint off (admin.listen).");
        return;
    };
    let token = match &config.token_file {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(t) => Some(t.trim().to_string()),
            Err(e) => {
                tracing::error!(file = %path.display(), error = %e, "Reading admin.token_file failed; the admin endpoint is off.");
                return;
            }
        },
        None => None,
    };
    if let Err(e) = admin::server::start(addr, token, board) {
        tracing::error!(address = %addr, error = %e, "Admin endpoint could not listen; `dozor-agent status` cannot read this agent. Set admin.listen to a free address.");
    }
}

/// The log filter for `--log-level`: the ledger target (one line per batch) is kept at warn
/// unless the filter names it.
fn log_filter(level: &str) -> String {
    if level.contains(LEDGER) {
        level.to_string()
    } else {
        format!("{level},{LEDGER}=warn")
    }
}

/// The tracing target of the per-batch ledger lines.
const LEDGER: &str = "dozor_agent::export::ledger";

/// Resource attributes the collector copies onto every series by default; `collect --once`
/// applies the same so its output matches the collector's.
fn promoted() -> Vec<String> {
    vec!["site".into(), "role".into()]
}

/// Keeps glibc's allocator to its one main arena. By default every thread that allocates gets
/// an arena of its own (up to 8 per core), each holding on to its freed memory: for an agent
/// whose threads take turns, that is resident memory for nothing (about 0.5 MiB measured). The
/// same as `MALLOC_ARENA_MAX=1`, which an environment setting still overrides.
fn one_malloc_arena() {
    #[cfg(target_env = "gnu")]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: `mallopt` only sets an allocator parameter; it is called before any other
        // thread exists, and M_ARENA_MAX is a valid parameter for glibc's allocator.
        #[allow(unsafe_code)]
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

/// What the integrations are built with.
fn context(
    config: &Config,
    paths: Paths,
    logs: Option<Arc<dyn sink::LogSink>>,
    save_state: bool,
) -> integrations::Context {
    integrations::Context {
        paths,
        interval: config.agent.interval.0,
        timeout: config.agent.timeout.0,
        state_dir: config.agent.resolved_state_dir(),
        save_state,
        logs,
    }
}

/// Loads the file (or the defaults), with the buffer's default directory under
/// `agent.state_dir`.
fn load_config(path: Option<&std::path::Path>) -> Result<Config, String> {
    let mut config = match path {
        None => Config::default(),
        Some(p) => dozor_config::load::<Config>(p).map_err(|e| e.to_string())?,
    };
    let state_dir = config.agent.resolved_state_dir();
    let buffer = &mut config.exporters.otlp.buffer.path;
    buffer.get_or_insert_with(|| state_dir.join("buffer"));
    Ok(config)
}

fn run(config: Config, paths: Paths, config_file: Option<String>) -> anyhow::Result<ExitCode> {
    // One crypto provider for every TLS client (tonic and reqwest): ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(8)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let mut config = config;
        let resource = resource::attributes(&config.resource, &paths);
        let board = Arc::new(admin::Board::new(config_file, &resource));
        start_admin(&config.admin, board.clone());
        let otlp = std::mem::take(&mut config.exporters.otlp);
        // The buffers first: a locked or unreadable one stops the agent before it collects.
        let logs = if otlp.enabled {
            let outbox = export::logs::Outbox::open(&otlp, resource.clone())
                .context("opening the logs outbox")?;
            Some(Arc::new(outbox))
        } else {
            None
        };
        let sink = logs.clone().map(|l| l as Arc<dyn sink::LogSink>);
        let scheduled = config
            .integrations
            .build(&context(&config, paths, sink, true));
        let names: Vec<&str> = scheduled.iter().map(|s| s.integration.name()).collect();
        info!(integrations = ?names, endpoints = ?otlp.endpoints, "Agent started.");
        let shutdown_timeout = otlp.shutdown_timeout.0;
        let exporter = match logs {
            Some(logs) => Some(
                export::Exporter::new(
                    otlp,
                    resource,
                    dozor_metrics::time::now_nanos(),
                    logs,
                    board.clone(),
                )
                .context("setting up the OTLP exporter")?,
            ),
            None => None,
        };
        // Small: when the buffer is full under `when_full: pause`, the scheduler must feel it
        // within a few runs, so that collection pauses rather than queueing in memory.
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let tasks = scheduler::spawn_on(scheduled, tx, board);
        let exporter = match exporter {
            Some(exporter) => Some(tokio::spawn(exporter.run(rx))),
            None => {
                drop(rx);
                None
            }
        };
        shutdown_signal().await;
        info!("Agent stopping.");
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await;
        }
        if let Some(exporter) = exporter {
            // The senders are gone with the tasks: the exporter writes what it holds to the
            // buffer, sends for at most `shutdown_timeout` and leaves the rest on disk.
            let grace = shutdown_timeout + std::time::Duration::from_secs(5);
            let _ = tokio::time::timeout(grace, exporter).await;
        }
        info!("Agent stopped.");
        Ok(ExitCode::SUCCESS)
    })
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
    }
}
