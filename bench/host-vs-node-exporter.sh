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

# node_exporter: scraped by curl, N times, INTERVAL apart. Prints "idle_kb after_kb cpu_s series".
measure_ne() {
  local p pid c0 c1 idle
  p=$(port)
  prometheus-node-exporter --web.listen-address="127.0.0.1:$p" "$@" >"$tmp/ne.log" 2>&1 &
  pid=$!
  for _ in $(seq 50); do curl -sf "127.0.0.1:$p/metrics" >/dev/null && break; sleep 0.1; done
  idle=$(rss_kb $pid)
  c0=$(cpu_s $pid)
  for _ in $(seq "$n"); do curl -s "127.0.0.1:$p/metrics" >/dev/null; sleep "$interval"; done
  c1=$(cpu_s $pid)
  echo "$idle $(rss_kb $pid) $(awk -v a="$c0" -v b="$c1" 'BEGIN {print b - a}') $(curl -s "127.0.0.1:$p/metrics" | grep -vc '^#')"
  kill $pid
}
read -r ne_idle ne_rss ne_cpu ne_series < <(measure_ne)
# node_exporter's tcpstat collector (off by default) reads the TCP states dozor reports too.
read -r net_idle net_rss net_cpu net_series < <(measure_ne --collector.tcpstat)

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
  otlp: {endpoints: ["http://127.0.0.1:$g"]}
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

row() { awk -v n="$1" -v idle="$3" -v rss="$4" -v cpu="$5" -v k="$6" -v series="$7" -v name="$2" 'BEGIN {
  printf "| %s | %.1f | %.1f | %.2f | %d |\n", name, idle/1024, rss/1024, cpu*1000/k, series }'; }
printf "| | RSS idle (MiB) | RSS after %d collections (MiB) | CPU per collection (ms) | series |\n|---|---|---|---|---|\n" "$n"
row "$n" "node_exporter 1.5 (default collectors)" "$ne_idle" "$ne_rss" "$ne_cpu" "$n" "$ne_series"
row "$n" "node_exporter 1.5 (default + tcpstat)" "$net_idle" "$net_rss" "$net_cpu" "$n" "$net_series"
row "$n" "dozor-agent (host integration, OTLP export)" "$ag_idle" "$ag_rss" "$(awk -v a="$ag_c0" -v b="$ag_c1" 'BEGIN {print b - a}')" "$((ag_s1 - ag_s0))" "$ag_series"
