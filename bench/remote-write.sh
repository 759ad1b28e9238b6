#!/usr/bin/env bash
# The collector's two outputs side by side, in one run, on the same series: the Prometheus pull
# endpoint (a real Prometheus scraping /metrics) against remote_write into a real
# VictoriaMetrics. AGENTS dozor-agents (demo integration) together send SERIES series, every
# one each INTERVAL, over OTLP/gRPC to one dozor-collector; three phases of SECONDS each:
#
#   ingest  the collector only receives (nobody scrapes, no remote_write): the base cost;
#   pull    Prometheus 2.42 scrapes /metrics every INTERVAL (honor_labels, as docs/prometheus.md);
#   push    the collector restarted with exporters.remote_write to VictoriaMetrics (no scrape).
#
# CPU is user + system time from /proc/PID/stat over the phase. Samples are what the store
# itself counted: Prometheus' prometheus_tsdb_head_samples_appended_total, VictoriaMetrics'
# vm_rows_inserted_total{type="promremotewrite"}. Per output: samples per second into the store,
# the collector's CPU, samples per collector CPU-second (the whole collector: OTLP ingest plus
# the output), and the output's own cost over the ingest phase (CPU-µs per sample).
#
#   bench/remote-write.sh [SERIES] [SECONDS] [AGENTS] [INTERVAL]   (default 100000 30 10 1s)
#
# Keep SERIES / AGENTS under the collector's per-sender series budget
# (limits.per_agent.max_series, 20,000): beyond it series are folded into overflow series.
set -euo pipefail
cd "$(dirname "$0")/.."
series=${1:-100000}; secs=${2:-30}; agents=${3:-10}; interval=${4:-1s}
command -v prometheus >/dev/null || { echo "apt-get install prometheus" >&2; exit 1; }
command -v victoria-metrics >/dev/null || { echo "apt-get install victoria-metrics" >&2; exit 1; }
cargo build --release --locked -p dozor-agent -p dozor-collector -q
bin=${CARGO_TARGET_DIR:-target}/release
tmp=$(mktemp -d)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
hz=$(getconf CLK_TCK)
cpu_s() { awk -v hz="$hz" '{print ($14+$15)/hz}' "/proc/$1/stat"; }
rss_mib() { awk '/^VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
# The sum of every series of metric $2 (whose line also contains $3) on http://$1/metrics.
metric() { curl -s "$1/metrics" | awk -v n="$2" -v l="${3:-}" '(index($0, n"{") == 1 || index($0, n" ") == 1) && index($0, l) {s += $NF} END {printf "%.0f\n", s}'; }
wait_up() { for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.2; done; echo "$1 did not answer" >&2; exit 1; }

g=$(port); h=$(port); m=$(port); v=$(port); p=$(port)
victoria-metrics -httpListenAddr="127.0.0.1:$v" -storageDataPath="$tmp/vm" -retentionPeriod=1 >"$tmp/vm.log" 2>&1 &
vm=$!
wait_up "127.0.0.1:$v/health"

collector() { # $1: extra YAML under exporters:
  cat >"$tmp/collector.yaml" <<YAML
receivers:
  otlp_grpc: {endpoint: "127.0.0.1:$g"}
  otlp_http: {endpoint: "127.0.0.1:$h"}
exporters:
  prometheus: {endpoint: "127.0.0.1:$m"}
$1
YAML
  $bin/dozor-collector --config "$tmp/collector.yaml" >>"$tmp/collector.log" 2>&1 &
  cpid=$!
  wait_up "127.0.0.1:$m/-/healthy"
}
collector ""

for i in $(seq "$agents"); do
  cat >"$tmp/agent-$i.yaml" <<YAML
agent: {interval: $interval, timeout: 5s}
resource: {instance_id: rw-bench-$i}
exporters:
  otlp:
    endpoints: ["http://127.0.0.1:$g"]
    buffer: {path: "$tmp/buffer-$i"}
integrations:
  host: {enabled: false}
  demo: {enabled: true, series: $((series / agents))}
YAML
  $bin/dozor-agent --config "$tmp/agent-$i.yaml" >"$tmp/agent-$i.log" 2>&1 &
done
# Every agent's series are in the store before anything is measured.
for _ in $(seq 300); do
  n=$(curl -s "127.0.0.1:$m/metrics" | grep -c '^dozor_demo_runs_total{' || true)
  [ "$n" -ge "$series" ] && break; sleep 0.5
done
sleep 5

# One phase: collector CPU and received points over $secs, and the store's own sample counter
# ($1: the store's address and pid, the counter and its label; empty for the ingest phase).
measure() {
  local addr=$1 spid=$2 name=$3 label=$4 c0 r0 s0=0 sc0=0 c1 r1 s1=0 sc1=0
  c0=$(cpu_s "$cpid"); r0=$(metric "127.0.0.1:$m" dozor_collector_received_points_total)
  if [ -n "$addr" ]; then s0=$(metric "$addr" "$name" "$label"); sc0=$(cpu_s "$spid"); fi
  sleep "$secs"
  c1=$(cpu_s "$cpid"); r1=$(metric "127.0.0.1:$m" dozor_collector_received_points_total)
  if [ -n "$addr" ]; then s1=$(metric "$addr" "$name" "$label"); sc1=$(cpu_s "$spid"); fi
  echo "$(awk -v a="$c0" -v b="$c1" 'BEGIN {print b - a}') $((r1 - r0)) $((s1 - s0)) $(awk -v a="$sc0" -v b="$sc1" 'BEGIN {print b - a}') $(rss_mib "$cpid")"
}

read -r ingest_cpu ingest_pts _ _ ingest_rss < <(measure "" "" "" "")

cat >"$tmp/prometheus.yml" <<YAML
global: {scrape_interval: $interval, scrape_timeout: $interval}
scrape_configs:
  - job_name: dozor-collector
    honor_labels: true
    static_configs: [{targets: ["127.0.0.1:$m"]}]
YAML
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prom" --web.listen-address="127.0.0.1:$p" >"$tmp/prometheus.log" 2>&1 &
prom=$!
wait_up "127.0.0.1:$p/-/ready"
for _ in $(seq 100); do [ "$(metric "127.0.0.1:$p" prometheus_tsdb_head_series)" -ge "$series" ] && break; sleep 0.5; done
sleep 3
read -r pull_cpu pull_pts pull_samples pull_store_cpu pull_rss < <(measure "127.0.0.1:$p" "$prom" prometheus_tsdb_head_samples_appended_total "")
pull_scrape=$(curl -s "127.0.0.1:$p/api/v1/query" --data-urlencode 'query=avg_over_time(scrape_duration_seconds[1m])' | grep -o '"value":\[[^]]*\]' | grep -o '"[0-9.e-]*"\]$' | tr -d '"]' || true)
kill "$prom"; wait "$prom" 2>/dev/null || true

kill "$cpid"; wait "$cpid" 2>/dev/null || true
collector "  remote_write:
    - url: http://127.0.0.1:$v/api/v1/write
      outbox: {path: \"$tmp/outbox\"}"
# The agents' backlog of the restart drains, and every series reaches VictoriaMetrics, first.
for _ in $(seq 300); do
  [ "$(metric "127.0.0.1:$v" vm_rows_inserted_total 'type="promremotewrite"')" -ge "$((3 * series))" ] && break; sleep 0.5
done
sleep 10
read -r push_cpu push_pts push_samples push_store_cpu push_rss < <(measure "127.0.0.1:$v" "$vm" vm_rows_inserted_total 'type="promremotewrite"')

# The store away for $secs: what the outbox holds per sample, and how fast it drains after.
kill "$vm"; wait "$vm" 2>/dev/null || true
sleep "$secs"
pending=$(metric "127.0.0.1:$m" dozor_collector_remote_write_pending_samples)
outbox_bytes=$(metric "127.0.0.1:$m" dozor_collector_remote_write_outbox_size_bytes)
victoria-metrics -httpListenAddr="127.0.0.1:$v" -storageDataPath="$tmp/vm" -retentionPeriod=1 >>"$tmp/vm.log" 2>&1 &
vm=$!
wait_up "127.0.0.1:$v/health"
t0=$(date +%s.%N); c0=$(cpu_s "$cpid")
for _ in $(seq 1200); do
  [ "$(metric "127.0.0.1:$m" dozor_collector_remote_write_pending_samples)" -le "$((2 * series))" ] && break; sleep 0.1
done
t1=$(date +%s.%N); c1=$(cpu_s "$cpid")

echo "$agents agents × $((series / agents)) series every $interval ($(nproc) cores, $secs s per phase, release build)"
echo "| phase | points received (per s) | samples into the store (per s) | collector CPU (% of a core) | samples per collector CPU-second | output's own cost (CPU-µs per sample) | store CPU per sample (µs) | collector RSS (MiB) |"
echo "|---|---|---|---|---|---|---|---|"
awk -v t="$secs" -v ic="$ingest_cpu" -v ip="$ingest_pts" -v irs="$ingest_rss" \
    -v pc="$pull_cpu" -v pp="$pull_pts" -v ps="$pull_samples" -v psc="$pull_store_cpu" -v prs="$pull_rss" \
    -v wc="$push_cpu" -v wp="$push_pts" -v ws="$push_samples" -v wsc="$push_store_cpu" -v wrs="$push_rss" 'BEGIN {
  printf "| ingest only | %.0f | - | %.1f | - | - | - | %s |\n", ip / t, ic * 100 / t, irs
  printf "| pull: Prometheus scrapes /metrics | %.0f | %.0f | %.1f | %.0f | %.2f | %.2f (Prometheus) | %s |\n", pp / t, ps / t, pc * 100 / t, ps / pc, (pc - ic * pp / ip) * 1e6 / ps, psc * 1e6 / ps, prs
  printf "| push: remote_write to VictoriaMetrics | %.0f | %.0f | %.1f | %.0f | %.2f | %.2f (VictoriaMetrics) | %s |\n", wp / t, ws / t, wc * 100 / t, ws / wc, (wc - ic * wp / ip) * 1e6 / ws, wsc * 1e6 / ws, wrs
}'
echo "(Prometheus' scrape of /metrics took ${pull_scrape:-?} s on average)"
awk -v p="$pending" -v b="$outbox_bytes" -v t="$secs" -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v s="$series" -v i="${interval%s}" 'BEGIN {
  d = t1 - t0
  printf "VictoriaMetrics away %d s: %.0f samples pending in %.1f MiB of outbox (%.1f bytes per sample); drained in %.1f s after its return (%.0f samples/s beside the live %.0f/s), collector CPU %.0f%% of a core meanwhile\n", t, p, b / 1048576, b / p, d, p / d, s / i, (c1 - c0) * 100 / d }'
