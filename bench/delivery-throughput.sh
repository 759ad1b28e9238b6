#!/usr/bin/env bash
# End to end through the agent's disk buffer: one dozor-agent whose demo integration produces
# RATE data points per second (RATE/10 series every 100 ms) sends to a dozor-collector for
# SECONDS, under each fsync policy of the buffer. Prints, per policy: points produced and
# delivered per second, the backlog left in the buffer at the end, and the agent's CPU.
#
#   bench/delivery-throughput.sh [RATE] [SECONDS]     (defaults 100000 and 30)
#
# The buffer is not the bottleneck when delivered equals produced and the backlog stays near
# zero. The per-operation cost of the buffer itself is `cargo bench -p dozor-buffer`.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-100000}
secs=${2:-30}
cargo build --release --locked --bins -q
bin=${CARGO_TARGET_DIR:-target}/release
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
hz=$(getconf CLK_TCK)
cpu_s() { awk -v hz="$hz" '{print ($14+$15)/hz}' "/proc/$1/stat"; }
g=$(port); h=$(port); m=$(port)
cat >"$tmp/collector.yaml" <<YAML
receivers:
  otlp_grpc: {endpoint: "127.0.0.1:$g"}
  otlp_http: {endpoint: "127.0.0.1:$h"}
exporters:
  prometheus: {endpoint: "127.0.0.1:$m"}
YAML
$bin/dozor-collector --config "$tmp/collector.yaml" >"$tmp/collector.log" 2>&1 &
for _ in $(seq 50); do curl -sf "127.0.0.1:$m/-/healthy" >/dev/null && break; sleep 0.1; done
metric() { curl -s "127.0.0.1:$m/metrics" | awk -v n="$1" -v l="$2" 'index($0, n"{") == 1 && index($0, l) {s += $NF} END {print s + 0}'; }

printf "| fsync policy | produced (points/s) | delivered (points/s) | backlog at end (points) | agent CPU (%% of a core) |\n|---|---|---|---|---|\n"
for sync in never interval always; do
  cat >"$tmp/agent.yaml" <<YAML
agent: {interval: 100ms, timeout: 1s}
resource: {instance_id: bench-$sync}
exporters:
  otlp:
    endpoints: ["http://127.0.0.1:$g"]
    flush_interval: 100ms
    buffer: {path: "$tmp/buffer-$sync", sync: $sync}
integrations:
  host: {enabled: false}
  demo: {enabled: true, series: $((rate / 10))}
YAML
  $bin/dozor-agent --config "$tmp/agent.yaml" >"$tmp/agent-$sync.log" 2>&1 &
  agent=$!
  sleep 3
  label="instance=\"bench-$sync\""
  p0=$(metric dozor_demo_runs_total "$label"); r0=$(metric dozor_collector_received_points_total ""); c0=$(cpu_s $agent)
  sleep "$secs"
  # Runs of the demo integration in the window, from its own counter: every series holds it.
  runs1=$(curl -s "127.0.0.1:$m/metrics" | awk -v l="$label" 'index($0, "dozor_demo_runs_total{") == 1 && index($0, l) && index($0, "series=\"0\"") {print $NF}')
  r1=$(metric dozor_collector_received_points_total ""); c1=$(cpu_s $agent)
  backlog=$(metric dozor_agent_buffer_pending_points "$label")
  kill $agent; wait $agent 2>/dev/null || true
  runs0=$(awk -v p="$p0" -v n="$((rate / 10))" 'BEGIN {print p / n}')
  awk -v s="$sync" -v n="$((rate / 10))" -v a="$runs0" -v b="$runs1" -v r0="$r0" -v r1="$r1" -v t="$secs" -v bl="$backlog" -v c0="$c0" -v c1="$c1" 'BEGIN {
    printf "| %s | %.0f | %.0f | %.0f | %.0f |\n", s, (b - a) * n / t, (r1 - r0) / t, bl, (c1 - c0) * 100 / t }'
done
