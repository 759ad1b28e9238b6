#!/usr/bin/env bash
# The http_capture integration against tshark, side by side in one run, and live on loopback.
#
# 1. bench/http-pcap-gen.py writes PLAIN.pcap (>= PACKETS packets of HTTP/1.1, one request at a
#    time per connection: keep-alive, chunked, HEAD, 204/304, close-delimited, multi-segment
#    bodies) and MIXED.pcap (also pipelined requests and 100-continue), each with its ground
#    truth (the requests it wrote, by method and final status).
# 2. Offline, each file: `tshark -r FILE -q -z http,stat` and `dozor-agent collect --once` with
#    http_capture reading the file (pcap_file), both under /usr/bin/time -v: request and status
#    counts of each against the generator's truth, packets per CPU second and per wall second,
#    peak RSS.
# 3. Live: dozor-agent capturing on lo (exporting to a dozor-collector) while tcpreplay sends
#    PLAIN.pcap onto lo at PPS packets/s; then libpcap's kernel drop counter, the packets the
#    capture read and the requests it counted, from the collector.
#
#   bench/http-capture.sh [PACKETS] [PPS]     (default 110000 100000; run as root;
#                                              NO_BUILD=1 uses the release binaries as built)
set -euo pipefail
cd "$(dirname "$0")/.."
packets=${1:-110000}; pps=${2:-100000}
for c in tshark tcpreplay python3; do
  command -v $c >/dev/null || { echo "error: $c missing: apt-get install tshark tcpreplay python3" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "error: /usr/bin/time missing: apt-get install time" >&2; exit 1; }
[ -n "${NO_BUILD:-}" ] || cargo build --release --locked -p dozor-agent -p dozor-collector -q
bin=${CARGO_TARGET_DIR:-target}/release
tmp=$(mktemp -d)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cleanup() { kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

python3 bench/http-pcap-gen.py "$tmp/plain.pcap" --packets "$packets" >"$tmp/plain.truth"
python3 bench/http-pcap-gen.py "$tmp/mixed.pcap" --packets "$packets" --pipelined --continue --seed 7 >"$tmp/mixed.truth"

# Sums of the agent's http_server_request_duration_seconds_count by method and by status, and
# tshark's http,stat table, as the generator's JSON shape.
agent_counts() {
  python3 - "$1" <<'PY'
import json, re, sys
m, s, n = {}, {}, 0
for line in open(sys.argv[1]):
    if line.startswith("http_server_request_duration_seconds_count{"):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
        v = int(float(line.rsplit(" ", 1)[1]))
        m[labels["http_request_method"]] = m.get(labels["http_request_method"], 0) + v
        s[labels["http_response_status_code"]] = s.get(labels["http_response_status_code"], 0) + v
        n += v
print(json.dumps({"methods": m, "requests": n, "statuses": s}, sort_keys=True))
PY
}
tshark_counts() {
  python3 - "$1" <<'PY'
import json, re, sys
m, s, part = {}, {}, None
for line in open(sys.argv[1]):
    if "Status Codes" in line: part = s; continue
    if "Request Methods" in line: part = m; continue
    g = re.match(r"\s+(\S+)(?:\s.*?)?\s+(\d+)\s*$", line)
    if part is not None and g:
        part[g.group(1)] = part.get(g.group(1), 0) + int(g.group(2))
print(json.dumps({"methods": m, "requests": sum(m.values()), "statuses": s}, sort_keys=True))
PY
}
truth_counts() { python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); print(json.dumps({k: t[k] for k in ("methods","requests","statuses")}, sort_keys=True))' "$1"; }
timed() { awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} /Elapsed/ {split($2,a,":"); w=a[1]*60+a[2]} /Maximum resident/ {r=$2} END {printf "%s %s %.2f", u+s, w, r/1024}' "$1"; }

printf "| file | tool | requests | counts equal to the generator's | CPU s | wall s | packets per CPU s | peak RSS (MiB) |\n|---|---|---|---|---|---|---|---|\n"
for f in plain mixed; do
  n=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["packets"])' "$tmp/$f.truth")
  truth=$(truth_counts "$tmp/$f.truth")
  /usr/bin/time -v tshark -r "$tmp/$f.pcap" -q -z http,stat >"$tmp/$f.tshark" 2>"$tmp/$f.tshark.time"
  cat >"$tmp/$f.yaml" <<YAML
agent: {interval: 60s, timeout: 60s}
exporters: {otlp: {enabled: false}}
integrations:
  host: {enabled: false}
  http_capture: {enabled: true, pcap_file: "$tmp/$f.pcap", ports: [8080], side: server}
YAML
  /usr/bin/time -v "$bin/dozor-agent" collect --once --config "$tmp/$f.yaml" >"$tmp/$f.prom" 2>"$tmp/$f.agent.time"
  for tool in tshark agent; do
    got=$("${tool}_counts" "$tmp/$f.$([ $tool = agent ] && echo prom || echo tshark)")
    read -r cpu wall rss <<<"$(timed "$tmp/$f.$tool.time")"
    req=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["requests"])' "$got")
    eq=$([ "$got" = "$truth" ] && echo yes || echo "no: $got")
    printf "| %s (%s packets) | %s | %s | %s | %s | %s | %s | %s |\n" "$f" "$n" "$tool" "$req" "$eq" "$cpu" "$wall" \
      "$(awk -v n="$n" -v c="$cpu" 'BEGIN { printf "%.0f", (c > 0 ? n / c : 0) }')" "$rss"
  done
  echo "truth $f: $truth"
done

# Live: the agent on lo while tcpreplay replays the plain file at PPS packets/s.
g=$(port); m=$(port)
cat >"$tmp/collector.yaml" <<YAML
receivers:
  otlp_grpc: {endpoint: "127.0.0.1:$g"}
  otlp_http: {endpoint: "127.0.0.1:$(port)"}
exporters:
  prometheus: {endpoint: "127.0.0.1:$m"}
YAML
cat >"$tmp/live.yaml" <<YAML
agent: {interval: 1s, timeout: 1s}
resource: {instance_id: capture-bench}
exporters:
  otlp:
    endpoints: ["http://127.0.0.1:$g"]
    buffer: {path: "$tmp/buffer"}
integrations:
  host: {enabled: false}
  http_capture: {enabled: true, interfaces: [lo], ports: [8080], side: server}
YAML
"$bin/dozor-collector" --config "$tmp/collector.yaml" >"$tmp/collector.log" 2>&1 &
for _ in $(seq 50); do curl -sf "127.0.0.1:$m/-/healthy" >/dev/null && break; sleep 0.1; done
"$bin/dozor-agent" --config "$tmp/live.yaml" >"$tmp/agent.log" 2>&1 &
agent=$!
metric() { curl -s "127.0.0.1:$m/metrics" | awk -v re="$1" '$0 ~ re {s += $NF} END {printf "%d", s}'; }
for _ in $(seq 100); do [ "$(metric '^dozor_http_capture_packets_total')" != "" ] && curl -s "127.0.0.1:$m/metrics" | grep -q '^dozor_http_capture_packets_total' && break; sleep 0.2; done
tcpreplay -i lo --pps="$pps" "$tmp/plain.pcap" >"$tmp/tcpreplay.log" 2>&1
sleep 4
echo
echo "live on lo: tcpreplay $(grep -oE 'Actual: [0-9]+ packets.*' "$tmp/tcpreplay.log" | head -1); $(grep -oE 'Rated: [0-9.]+ Bps, [0-9.]+ Mbps, [0-9.]+ pps' "$tmp/tcpreplay.log" | head -1)"
echo "  capture read $(metric '^dozor_http_capture_packets_total') packets; pcap_stats kernel drops $(metric '^dozor_http_capture_dropped_total.*reason="kernel"'), interface drops $(metric '^dozor_http_capture_dropped_total.*reason="interface"')"
echo "  requests counted $(metric '^http_server_request_duration_seconds_count') (generator: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"])' "$tmp/plain.truth")); agent RSS $(awk '/^VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$agent/status), peak $(awk '/^VmHWM/ {printf "%.1f MiB", $2/1024}' /proc/$agent/status)"
