# Alertmanager (Debian's prometheus-alertmanager, which also ships amtool) for the alert routing
# test (e2e/tests/alert_routing.rs; sourced by scripts/test). The test starts a throw-away
# Alertmanager of its own on a free loopback port, with clustering off and the configuration
# of deploy/alertmanager/, so only the binaries are needed; the package's own service is not used.

if ! command -v prometheus-alertmanager >/dev/null 2>&1 || ! command -v amtool >/dev/null 2>&1; then
  say "installing prometheus-alertmanager (Debian)"
  DEBIAN_FRONTEND=noninteractive sudo_cmd apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null || {
    echo "error: missing: prometheus-alertmanager (and amtool): apt-get install prometheus-alertmanager" >&2; exit 1; }
  # The package starts an Alertmanager on :9093 (and its cluster port :9094) that no test needs.
  # Without systemd (containers), the package's init script is what would start it.
  sudo_cmd systemctl disable --now prometheus-alertmanager >/dev/null 2>&1 || {
    sudo_cmd invoke-rc.d prometheus-alertmanager stop >/dev/null 2>&1 || true
    sudo_cmd update-rc.d prometheus-alertmanager disable >/dev/null 2>&1 || true; }
fi
