#!/usr/bin/env bash
# Side by side, in one run against the same throw-away Redis: the CPU and memory of dozor-agent
# with only its redis integration against Debian's prometheus-redis-exporter (1.45), both
# reading the same keys at the same interval: LISTS lists (`jobs:*`, 100 entries each) and
# STREAMS streams (`events:*`, 1000 entries, 2 consumer groups of 2 consumers each, entries
# read and partly acknowledged). The exporter is scraped with curl every INTERVAL seconds
# (`--check-keys=jobs:*` gives the list lengths, `--check-streams=events:*` lengths, groups
# and consumers); the agent collects every INTERVAL seconds and exports to a dozor-collector.
#
#   bench/redis-vs-exporter.sh [COLLECTIONS] [LISTS] [STREAMS]     (default 120 200 20)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-120}; lists=${2:-200}; streams=${3:-20}
command -v prometheus-redis-exporter >/dev/null || { echo "apt-get install prometheus-redis-exporter" >&2; exit 1; }
cargo build --release --locked -p dozor-agent -p dozor-collector -q
bin=${CARGO_TARGET_DIR:-target}/release
tmp=$(mktemp -d)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cleanup() { kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

rp=$(port)
redis-server --port "$rp" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp" >"$tmp/redis.log" 2>&1 &
for _ in $(seq 50); do redis-cli -p "$rp" ping >/dev/null 2>&1 && break; sleep 0.1; done
{
  for l in $(seq 0 $((lists - 1))); do
    printf 'RPUSH jobs:%d' "$l"; for i in $(seq 100); do printf ' %d' "$i"; done; printf '\n'
  done
  for s in $(seq 0 $((streams - 1))); do
    for i in $(seq 1000); do printf 'XADD events:%d * n %d\n' "$s" "$i"; done
    for g in billing audit; do
      printf 'XGROUP CREATE events:%d %s 0\n' "$s" "$g"
      printf 'XREADGROUP GROUP %s w1 COUNT 300 STREAMS events:%d >\n' "$g" "$s"
      printf 'XREADGROUP GROUP %s w2 COUNT 200 STREAMS events:%d >\n' "$g" "$s"
    done
  done
} | redis-cli -p "$rp" >/dev/null
# Half of w1's entries acknowledged, so pending differs from delivered.
for s in $(seq 0 $((streams - 1))); do
  ids=$(redis-cli -p "$rp" XRANGE "events:$s" - + COUNT 150 | awk 'NR % 3 == 1')
  # shellcheck disable=SC2086
  redis-cli -p "$rp" XACK "events:$s" billing $ids >/dev/null
done

hz=$(getconf CLK_TCK)
cpu_s() { awk -v hz="$hz" '{print ($14+$15)/hz}' "/proc/$1/stat"; }
rss_mib() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
hwm_mib() { awk '/^VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
# Anonymous memory (heap, stacks, runtime): what the process itself holds. The rest of RSS is
# file pages (the binary's code, shared libraries), which the kernel can drop and read back.
anon_mib() { awk '/^RssAnon/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

e=$(port)
prometheus-redis-exporter -redis.addr "redis://127.0.0.1:$rp" -web.listen-address "127.0.0.1:$e" \
  -check-keys 'jobs:*' -check-streams 'events:*' >"$tmp/exporter.log" 2>&1 &
exporter=$!
g=$(port); h=$(port); m=$(port)
cat >"$tmp/collector.yaml" <<YAML
receivers:
  otlp_grpc: {endpoint: "127.0.0.1:$g"}
  otlp_http: {endpoint: "127.0.0.1:$h"}
exporters:
  prometheus: {endpoint: "127.0.0.1:$m"}
YAML
cat >"$tmp/agent.yaml" <<YAML
agent: {interval: 1s, timeout: 1s}
resource: {instance_id: redis-bench}
exporters:
  otlp:
    endpoints: ["http://127.0.0.1:$g"]
    buffer: {path: "$tmp/buffer"}
integrations:
  host: {enabled: false}
  redis:
    enabled: true
    instances:
      - name: bench
        address: 127.0.0.1:$rp
        lists: ["jobs:*"]
        streams: ["events:*"]
YAML
$bin/dozor-collector --config "$tmp/collector.yaml" >"$tmp/collector.log" 2>&1 &
for _ in $(seq 50); do curl -sf "127.0.0.1:$m/-/healthy" >/dev/null && break; sleep 0.1; done
for _ in $(seq 50); do curl -sf "127.0.0.1:$e/metrics" >/dev/null && break; sleep 0.1; done
$bin/dozor-agent --config "$tmp/agent.yaml" >"$tmp/agent.log" 2>&1 &
agent=$!
runs() { curl -s "127.0.0.1:$m/metrics" | awk '/^dozor_agent_scrapes_total\{.*integration="redis\/bench"/ {print $NF}'; }
for _ in $(seq 100); do [ -n "$(runs)" ] && break; sleep 0.2; done
sleep 3

# Both at once, for n intervals of 1 s: the exporter scraped once per second, the agent
# collecting on its own schedule.
r0=$(runs); ac0=$(cpu_s $agent); ec0=$(cpu_s $exporter)
for _ in $(seq "$n"); do curl -s "127.0.0.1:$e/metrics" >/dev/null; sleep 1; done
ac1=$(cpu_s $agent); ec1=$(cpu_s $exporter); r1=$(runs)
k=$((r1 - r0))

series_e=$(curl -s "127.0.0.1:$e/metrics" | grep -c '^redis_')
series_a=$(curl -s "127.0.0.1:$m/metrics" | grep -cE '^(dozor_redis_|redis_)')
lag_e=$(curl -s "127.0.0.1:$e/metrics" | grep -c 'lag' || true)
echo "Redis $(redis-server --version | grep -o 'v=[0-9.]*'), $lists lists, $streams streams, $n s; agent runs counted: $k"
printf "| per collection | CPU (ms) | RSS at the end (MiB) | of it anonymous (MiB) | peak RSS (MiB) | series |\n|---|---|---|---|---|---|\n"
awk -v c0="$ec0" -v c1="$ec1" -v k="$n" -v r="$(rss_mib $exporter)" -v a="$(anon_mib $exporter)" -v p="$(hwm_mib $exporter)" -v s="$series_e" 'BEGIN { printf "| prometheus-redis-exporter 1.45 (Debian), scraped every 1 s | %.2f | %s | %s | %s | %s |\n", (c1-c0)*1000/k, r, a, p, s }'
awk -v c0="$ac0" -v c1="$ac1" -v k="$k" -v r="$(rss_mib $agent)" -v a="$(anon_mib $agent)" -v p="$(hwm_mib $agent)" -v s="$series_a" 'BEGIN { printf "| dozor-agent, redis integration only, every 1 s (export included) | %.2f | %s | %s | %s | %s |\n", (c1-c0)*1000/k, r, a, p, s }'
echo "exporter lines mentioning lag: $lag_e"
