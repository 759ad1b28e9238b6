#!/usr/bin/env bash
# Side by side, in one run: the CPU per probe of dozor-agent's `probes` integration against
# Debian's prometheus-blackbox-exporter (0.23), both probing the same targets at the same rate:
# TARGETS targets of each kind, each probed once a second, for SECONDS seconds per kind.
#   http: GET of a 1 KiB file from a local HTTP server (python3 -m http.server), status 2xx;
#   tcp:  a connect to the same server's port;
#   icmp: one echo request to 127.0.0.1 (the agent's `count: 1`, blackbox's one echo).
# The exporter is driven as Prometheus drives it: one GET /probe?module=..&target=.. per probe
# (curl; curl's CPU is not counted). The agent probes on its own schedule and exports every
# second to a dozor-collector (its export is counted; the collector's CPU is not). CPU is user +
# system time from /proc/PID/stat over the phase, divided by the probes counted in it.
#
#   bench/probes-vs-blackbox.sh [SECONDS] [TARGETS] [KINDS]   (default 60 10 "http tcp icmp";
#                                                              run as root for ICMP)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}; targets=${2:-10}; kinds=${3:-http tcp icmp}
command -v prometheus-blackbox-exporter >/dev/null || { echo "apt-get install prometheus-blackbox-exporter" >&2; exit 1; }
cargo build --release --locked -p dozor-agent -p dozor-collector -q
bin=${CARGO_TARGET_DIR:-target}/release
tmp=$(mktemp -d)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cleanup() { kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
hz=$(getconf CLK_TCK)
cpu_s() { awk -v hz="$hz" '{print ($14+$15)/hz}' "/proc/$1/stat"; }
rss_mib() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

mkdir -p "$tmp/www"; head -c 1024 /dev/zero | tr '\0' x >"$tmp/www/page"
w=$(port)
# A backlog of 128, not http.server's 5: the agent's 10 targets connect at the same instant.
(cd "$tmp/www" && exec python3 -c 'import http.server as h, sys
h.ThreadingHTTPServer.request_queue_size = 128
h.test(HandlerClass=h.SimpleHTTPRequestHandler, ServerClass=h.ThreadingHTTPServer, port=int(sys.argv[1]), bind="127.0.0.1")' "$w" >"$tmp/www.log" 2>&1) &
for _ in $(seq 50); do curl -sf "127.0.0.1:$w/page" >/dev/null && break; sleep 0.1; done

cat >"$tmp/blackbox.yml" <<YAML
modules:
  http_2xx: {prober: http, timeout: 5s, http: {preferred_ip_protocol: ip4}}
  tcp_connect: {prober: tcp, timeout: 5s, tcp: {preferred_ip_protocol: ip4}}
  icmp: {prober: icmp, timeout: 5s, icmp: {preferred_ip_protocol: ip4}}
YAML
b=$(port)
prometheus-blackbox-exporter --config.file "$tmp/blackbox.yml" --web.listen-address "127.0.0.1:$b" >"$tmp/blackbox.log" 2>&1 &
blackbox=$!
for _ in $(seq 50); do curl -sf "127.0.0.1:$b/metrics" >/dev/null && break; sleep 0.1; done

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

# One kind: the exporter and a fresh agent side by side for $secs seconds.
phase() {
  local kind=$1 module=$2 target=$3 probe=$4
  {
    echo "agent: {interval: 1s, timeout: 1s}"
    echo "resource: {instance_id: probes-bench-$kind}"
    echo "exporters: {otlp: {endpoints: [\"http://127.0.0.1:$g\"], buffer: {path: \"$tmp/buffer-$kind\"}}}"
    echo "integrations:"
    echo "  host: {enabled: false}"
    echo "  probes:"
    echo "    enabled: true"
    echo "    targets:"
    for i in $(seq "$targets"); do echo "      - {name: $kind-$i, $kind: $probe}"; done
  } >"$tmp/agent-$kind.yaml"
  $bin/dozor-agent --config "$tmp/agent-$kind.yaml" >"$tmp/agent-$kind.log" 2>&1 &
  local agent=$!
  runs() { curl -s "127.0.0.1:$m/metrics" | awk -v k="$kind" '$0 ~ "^dozor_probe_runs_total\\{.*probe_kind=\""k"\"" {s+=$NF} END {print s+0}'; }
  for _ in $(seq 100); do [ "$(runs)" -ge "$targets" ] && break; sleep 0.2; done
  sleep 2
  local r0 ac0 ec0 ac1 ec1 r1 t
  r0=$(runs); ac0=$(cpu_s $agent); ec0=$(cpu_s $blackbox)
  for _ in $(seq "$secs"); do
    t=$(date +%s.%N)
    for _ in $(seq "$targets"); do curl -s "127.0.0.1:$b/probe?module=$module&target=$target" >/dev/null; done
    sleep "$(awk -v t="$t" -v n="$(date +%s.%N)" 'BEGIN { d = 1 - (n - t); print (d > 0 ? d : 0) }')"
  done
  ac1=$(cpu_s $agent); ec1=$(cpu_s $blackbox); sleep 1.5; r1=$(runs)
  ok=$(curl -s "127.0.0.1:$b/probe?module=$module&target=$target" | awk '/^probe_success / {print $2}')
  awk -v kind="$kind" -v c0="$ec0" -v c1="$ec1" -v n="$((secs * targets))" -v d0="$ac0" -v d1="$ac1" -v k="$((r1 - r0))" -v ok="$ok" -v rb="$(rss_mib $blackbox)" -v ra="$(rss_mib $agent)" \
    'BEGIN { e = (c1-c0)*1000/n; a = (d1-d0)*1000/k; printf "| %s | %d | %.3f | %s | %d | %.3f | %s | %.2f× |\n", kind, n, e, rb, k, a, ra, a/e }'
  aok=$(curl -s "127.0.0.1:$m/metrics" | awk -v k="$kind" '$0 ~ "^dozor_probe_success\\{.*probe_kind=\""k"\"" {s+=$NF; n++} END {print s+0 "/" n+0}')
  fails=$(curl -s "127.0.0.1:$m/metrics" | awk -v k="$kind" '$0 ~ "^dozor_probe_failures_total\\{.*probe_kind=\""k"\"" {s+=$NF} END {print s+0}')
  echo "  (probe_success, blackbox's last $kind probe: $ok; the agent's $kind targets: $aok; agent failures: $fails)" >&2
  kill $agent; wait $agent 2>/dev/null || true
}

echo "blackbox_exporter $(prometheus-blackbox-exporter --version 2>&1 | grep -o 'version [0-9.]*' | head -1), $targets targets per kind, each once a second, $secs s per kind"
printf "| kind | blackbox probes | blackbox CPU per probe (ms) | blackbox RSS (MiB) | agent probes | agent CPU per probe (ms) | agent RSS (MiB) | agent / blackbox |\n|---|---|---|---|---|---|---|---|\n"
for kind in $kinds; do
  case $kind in
    http) phase http http_2xx "http://127.0.0.1:$w/page" "{url: \"http://127.0.0.1:$w/page\"}" ;;
    tcp) phase tcp tcp_connect "127.0.0.1:$w" "{address: \"127.0.0.1:$w\"}" ;;
    icmp) phase icmp icmp "127.0.0.1" "{host: 127.0.0.1, count: 1}" ;;
    *) echo "unknown kind $kind" >&2; exit 1 ;;
  esac
done
