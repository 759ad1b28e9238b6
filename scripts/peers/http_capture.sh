# Peers of the http_capture integration (sourced by scripts/test): libpcap's headers to build
# the agent (libpcap-dev), tcpdump and tshark for bench/http-capture.sh (tshark -z http,stat is
# the benchmark's peer), and setpriv (util-linux) with which a test drops CAP_NET_RAW. The
# live tests capture on lo: they run as root (or with CAP_NET_RAW and CAP_NET_ADMIN).

missing=""
[ -e /usr/include/pcap/pcap.h ] || missing="$missing libpcap-dev"
command -v tcpdump >/dev/null 2>&1 || missing="$missing tcpdump"
command -v tshark >/dev/null 2>&1 || missing="$missing tshark"
command -v setpriv >/dev/null 2>&1 || missing="$missing util-linux"
if [ -n "$missing" ]; then
  say "installing$missing (Debian)"
  # tshark asks whether non-root users may capture: answer no, non-interactively.
  # shellcheck disable=SC2086
  sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing || {
    echo "error: missing:$missing: apt-get install$missing" >&2; exit 1; }
fi
if [ "$(id -u)" != 0 ] && ! capsh --has-p=cap_net_raw 2>/dev/null; then
  echo "error: the http_capture tests capture on lo: run scripts/test as root, or grant CAP_NET_RAW and CAP_NET_ADMIN" >&2
  exit 1
fi
