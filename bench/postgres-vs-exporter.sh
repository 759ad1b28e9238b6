#!/usr/bin/env bash
# Side by side, in one run on the same PostgreSQL cluster: what a collection costs the server,
# dozor-agent's postgresql integration against Debian's prometheus-postgres-exporter (default
# collectors). Each connects as its own pg_monitor role; pg_stat_statements (track = all)
# counts the statements each role issued and the time PostgreSQL spent on them. Also the CPU
# time of each process per collection.
#
#   bench/postgres-vs-exporter.sh [COLLECTIONS]      (default 50, one per second)
#
# The cluster is a temporary one (initdb as the postgres user, 3 extra databases, on a free
# port), so the shared server is not touched and nothing else runs statements on it.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-50}
command -v prometheus-postgres-exporter >/dev/null || { echo "apt-get install prometheus-postgres-exporter" >&2; exit 1; }
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
cargo build --release --locked --bins -q
bin=${CARGO_TARGET_DIR:-target}/release
tmp=$(mktemp -d)
chmod 755 "$tmp"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pg=$(port)
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  as_pg "$pgbin/pg_ctl" -D "$tmp/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir "$tmp/data" "$tmp/sock"
chown postgres "$tmp/data" "$tmp/sock" 2>/dev/null || true
as_pg "$pgbin/initdb" -D "$tmp/data" -U postgres -A trust -N -E UTF8 >/dev/null
cat >>"$tmp/data/postgresql.conf" <<CONF
port = $pg
listen_addresses = '127.0.0.1'
unix_socket_directories = '$tmp/sock'
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
fsync = off
CONF
as_pg "$pgbin/pg_ctl" -D "$tmp/data" -l "$tmp/data/log" -w start >/dev/null
psql() { command psql -h 127.0.0.1 -p "$pg" -U postgres -d postgres -qAtX "$@"; }
psql -c "CREATE EXTENSION pg_stat_statements" \
     -c "CREATE ROLE dozor LOGIN" -c "GRANT pg_monitor TO dozor" \
     -c "CREATE ROLE pgexporter LOGIN" -c "GRANT pg_monitor TO pgexporter" \
     -c "CREATE DATABASE app1" -c "CREATE DATABASE app2" -c "CREATE DATABASE app3"

hz=$(getconf CLK_TCK)
cpu_s() { awk -v hz="$hz" '{print ($14+$15)/hz}' "/proc/$1/stat"; }

# postgres_exporter, scraped n times a second apart.
e=$(port)
DATA_SOURCE_NAME="host=127.0.0.1 port=$pg user=pgexporter dbname=postgres sslmode=disable" \
  prometheus-postgres-exporter --web.listen-address="127.0.0.1:$e" >"$tmp/exporter.log" 2>&1 &
exporter=$!
for _ in $(seq 50); do curl -sf "127.0.0.1:$e/metrics" >/dev/null && break; sleep 0.1; done
psql -c "SELECT pg_stat_statements_reset()" >/dev/null
ec0=$(cpu_s $exporter)
for _ in $(seq "$n"); do curl -s "127.0.0.1:$e/metrics" >/dev/null; sleep 1; done
ec1=$(cpu_s $exporter)
kill $exporter
read -r e_calls e_ms < <(psql -F ' ' -c "SELECT coalesce(sum(calls),0), coalesce(sum(total_exec_time + total_plan_time),0) FROM pg_stat_statements WHERE userid = 'pgexporter'::regrole AND toplevel")

# dozor: collector + agent with only the postgresql integration, every second.
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
resource: {instance_id: pg-bench}
exporters:
  otlp:
    endpoints: ["http://127.0.0.1:$g"]
    buffer: {path: "$tmp/buffer"}
integrations:
  host: {enabled: false}
  postgresql:
    enabled: true
    instances:
      - name: bench
        dsn: host=127.0.0.1 port=$pg user=dozor dbname=postgres
YAML
$bin/dozor-collector --config "$tmp/collector.yaml" >"$tmp/collector.log" 2>&1 &
for _ in $(seq 50); do curl -sf "127.0.0.1:$m/-/healthy" >/dev/null && break; sleep 0.1; done
$bin/dozor-agent --config "$tmp/agent.yaml" >"$tmp/agent.log" 2>&1 &
agent=$!
runs() { curl -s "127.0.0.1:$m/metrics" | awk '/^dozor_agent_scrapes_total\{.*integration="postgresql\/bench"/ {print $NF}'; }
for _ in $(seq 100); do [ -n "$(runs)" ] && break; sleep 0.2; done
# The first runs connect and probe the role once; measure from a steady state.
sleep 2
psql -c "SELECT pg_stat_statements_reset()" >/dev/null
r0=$(runs); ac0=$(cpu_s $agent)
while [ "$(( $(runs) - r0 ))" -lt "$n" ]; do sleep 0.5; done
ac1=$(cpu_s $agent); r1=$(runs)
read -r a_calls a_ms < <(psql -F ' ' -c "SELECT coalesce(sum(calls),0), coalesce(sum(total_exec_time + total_plan_time),0) FROM pg_stat_statements WHERE userid = 'dozor'::regrole AND toplevel")
# The agent's count covers its runs up to when pg_stat_statements was read; runs reported at the
# collector lag by at most one flush, so count the runs from the statements' side as well.
k=$((r1 - r0))

printf "| per collection (%d collections, 1 s apart) | statements | time inside PostgreSQL (ms) | CPU of the process (ms) |\n|---|---|---|---|\n" "$n"
awk -v c="$e_calls" -v t="$e_ms" -v k="$n" -v c0="$ec0" -v c1="$ec1" 'BEGIN { printf "| postgres_exporter 0.11 (Debian, default collectors) | %.1f | %.2f | %.2f |\n", c/k, t/k, (c1-c0)*1000/k }'
awk -v c="$a_calls" -v t="$a_ms" -v k="$k" -v c0="$ac0" -v c1="$ac1" 'BEGIN { printf "| dozor-agent postgresql integration | %.1f | %.2f | %.2f |\n", c/k, t/k, (c1-c0)*1000/k }'
