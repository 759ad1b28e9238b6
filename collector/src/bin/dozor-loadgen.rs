//! `dozor-loadgen`: sends a synthetic fleet's metrics to a collector over OTLP/gRPC as fast as
//! it takes them, and reports points per second and, given the collector's pid, the points per
//! collector CPU-second (per core) and its memory.
//!
//! ```text
//! target/release/dozor-collector & target/release/dozor-loadgen --collector-pid $! --rounds 20
//! ```

use anyhow::{Context, bail};
use clap::Parser;
use dozor_collector::loadgen::Workload;
use dozor_metrics::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use dozor_metrics::otlp::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use dozor_metrics::sample::count_points;
use std::sync::Arc;
use std::time::Instant;
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Load generator for dozor-collector.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Collector OTLP/gRPC endpoint.
    #[arg(long, default_value = "http://127.0.0.1:4317")]
    endpoint: String,
    /// Agents (resources) in the synthetic fleet.
    #[arg(long, default_value_t = 100)]
    agents: usize,
    /// Series per agent.
    #[arg(long, default_value_t = 2_000)]
    series: usize,
    /// Points per request.
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Timed rounds; each sends every series once (a first, untimed round creates them).
    #[arg(long, default_value_t = 10)]
    rounds: u64,
    /// Connections sending at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Compress requests with gzip.
    #[arg(long)]
    gzip: bool,
    /// The collector's pid, to report its CPU time and memory from /proc.
    #[arg(long)]
    collector_pid: Option<u32>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let w = Workload {
        agents: args.agents,
        series_per_agent: args.series,
        batch: args.batch,
    };
    let requests = Arc::new(w.requests(1, dozor_metrics::time::now_nanos()));
    let points: u64 = requests.iter().map(count_points).sum();
    let mut clients = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let channel = Channel::from_shared(args.endpoint.clone())?
            .connect()
            .await
            .with_context(|| format!("connecting to {}", args.endpoint))?;
        let mut client = MetricsServiceClient::new(channel).max_decoding_message_size(1 << 20);
        if args.gzip {
            client = client.send_compressed(CompressionEncoding::Gzip);
        }
        clients.push(client);
    }
    round(&clients, &requests).await?;
    println!(
        "fleet: {} agents x {} series = {} series in {} requests of {} points; {} connections{}",
        w.agents,
        w.series_per_agent,
        w.series(),
        requests.len(),
        w.batch,
        clients.len(),
        if args.gzip { ", gzip" } else { "" }
    );
    let cpu_before = args.collector_pid.map(cpu_seconds).transpose()?;
    let start = Instant::now();
    for _ in 0..args.rounds {
        round(&clients, &requests).await?;
    }
    let elapsed = start.elapsed();
    let sent = points * args.rounds;
    println!(
        "sent {sent} points in {:.2} s: {:.0} points/s",
        elapsed.as_secs_f64(),
        sent as f64 / elapsed.as_secs_f64()
    );
    if let (Some(pid), Some(before)) = (args.collector_pid, cpu_before) {
        let cpu = cpu_seconds(pid)? - before;
        println!(
            "collector: {cpu:.2} CPU-s, {:.0} points per CPU-second (per core); RSS {} MiB, peak {} MiB",
            sent as f64 / cpu,
            status_kib(pid, "VmRSS:")? / 1024,
            status_kib(pid, "VmHWM:")? / 1024
        );
    }
    Ok(())
}

/// Sends every request once, spread over the clients.
async fn round(
    clients: &[MetricsServiceClient<Channel>],
    requests: &Arc<Vec<ExportMetricsServiceRequest>>,
) -> anyhow::Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    for (k, client) in clients.iter().enumerate() {
        let (mut client, requests, n) = (client.clone(), requests.clone(), clients.len());
        tasks.spawn(async move {
            for req in requests.iter().skip(k).step_by(n) {
                let resp = client.export(req.clone()).await?.into_inner();
                if let Some(p) = resp.partial_success {
                    bail!("collector did not store everything: {}", p.error_message);
                }
            }
            Ok(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(())
}

/// User plus system CPU time of a process, from /proc/PID/stat (clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    Ok(ticks / 100.0)
}

fn status_kib(pid: u32, key: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {key} in /proc/{pid}/status"))
}
