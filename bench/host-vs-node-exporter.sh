#!/usr/bin/env bash
# Side-by-side, in one run on this machine: dozor-agent (host integration) against Debian's
# prometheus-node-exporter (default collectors). For each: resident memory when idle (after its
# first collection) and after N collections, and CPU time (user+system, from /proc/PID/stat) per
# collection.
#
# The agent collects on its own schedule and exports each collection over OTLP/gRPC to a
# dozor-collector; node_exporter collects when scraped, and this script scrapes it with curl.
# Both therefore pay for collection, encoding and the network hop. The collector's and curl's
# CPU is not counted for either.
#
#   bench/host-vs-node-exporter.sh [COLLECTIONS] [INTERVAL_SECONDS]    (defaults 100 and 1)
#
# The issue asks for a 10 s interval; CPU per collection does not depend on it, so the default
# runs 100 collections 1 s apart to finish in a few minutes. Pass 10 to use 10 s.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100}
interval=${2:-1}
command -v prometheus-node-exporter >/dev/null || { echo "apt-get install prometheus-node-exporter" >&2; exit 1; }
cargo build --release --locked --bins -q
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
hz=$(getconf CLK_TCK)
cpu_s() { awk -v hz="$hz" '{print ($14+$15)/hz}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# node_exporter
ne_port=$(port)
prometheus-node-exporter --web.listen-address="127.0.0.1:$ne_port" >"$tmp/ne.log" 2>&1 &
ne=$!
for _ in $(seq 50); do curl -sf "127.0.0.1:$ne_port/metrics" >/dev/null && break; sleep 0.1; done
ne_idle=$(rss_kb $ne)
ne_c0=$(cpu_s $ne)
for _ in $(seq "$n"); do curl -s "127.0.0.1:$ne_port/metrics" >/dev/null; sleep "$interval"; done
ne_c1=$(cpu_s $ne)
ne_rss=$(rss_kb $ne)
ne_series=$(curl -s "127.0.0.1:$ne_port/metrics" | grep -vc '^#')

# dozor: collector + agent with the host integration every $interval s
g=$(port); h=$(port); m=$(port)
cat >"$tmp/collector.yaml" <<YAML
receivers:
  otlp_grpc: {endpoint: "127.0.0.1:$g"}
  otlp_http: {endpoint: "127.0.0.1:$h"}
exporters:
  prometheus: {endpoint: "127.0.0.1:$m"}
YAML
cat >"$tmp/agent.yaml" <<YAML
agent: {interval: ${interval}s, timeout: ${interval}s}
resource: {instance_id: bench-agent}
exporters:
  otlp: {endpoints: ["http://127.0.0.1:$g"], flush_interval: 100ms}
YAML
target/release/dozor-collector --config "$tmp/collector.yaml" >"$tmp/collector.log" 2>&1 &
for _ in $(seq 50); do curl -sf "127.0.0.1:$m/-/healthy" >/dev/null && break; sleep 0.1; done
target/release/dozor-agent --config "$tmp/agent.yaml" >"$tmp/agent.log" 2>&1 &
agent=$!
scrapes() { curl -s "127.0.0.1:$m/metrics" | awk '/^dozor_agent_scrapes_total/ {print $NF}'; }
for _ in $(seq 100); do [ -n "$(scrapes)" ] && break; sleep 0.1; done
ag_idle=$(rss_kb $agent)
ag_s0=$(scrapes); ag_c0=$(cpu_s $agent)
while [ "$(( $(scrapes) - ag_s0 ))" -lt "$n" ]; do sleep 0.5; done
ag_c1=$(cpu_s $agent); ag_s1=$(scrapes)
ag_rss=$(rss_kb $agent)
ag_series=$(curl -s "127.0.0.1:$m/metrics" | grep -v '^#' | grep -c 'instance="bench-agent"')

awk -v n="$n" -v ne_idle="$ne_idle" -v ne_rss="$ne_rss" -v ne_c0="$ne_c0" -v ne_c1="$ne_c1" -v ne_series="$ne_series" \
    -v ag_idle="$ag_idle" -v ag_rss="$ag_rss" -v ag_c0="$ag_c0" -v ag_c1="$ag_c1" -v ag_n="$((ag_s1 - ag_s0))" -v ag_series="$ag_series" 'BEGIN {
  ne_c = ne_c1 - ne_c0; ag_c = ag_c1 - ag_c0
  printf "| | RSS idle (MiB) | RSS after %d collections (MiB) | CPU per collection (ms) | series |\n", n
  printf "|---|---|---|---|---|\n"
  printf "| node_exporter (default collectors) | %.1f | %.1f | %.2f | %d |\n", ne_idle/1024, ne_rss/1024, ne_c*1000/n, ne_series
  printf "| dozor-agent (host integration, OTLP export) | %.1f | %.1f | %.2f | %d |\n", ag_idle/1024, ag_rss/1024, ag_c*1000/ag_n, ag_series
}'
