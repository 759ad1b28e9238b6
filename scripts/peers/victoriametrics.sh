# VictoriaMetrics single node (Debian's victoria-metrics: /usr/bin/victoria-metrics, plus vmagent,
# vmctl and friends) as a real remote_write store for collector/tests/remote_write.rs (sourced by
# scripts/test). The test starts a throw-away instance of its own on a free loopback port with its
# own data directory (lib/dozor-testkit/src/victoriametrics.rs), so only the binary is needed; the
# package's own service is not used.

if ! command -v victoria-metrics >/dev/null 2>&1; then
  say "installing victoria-metrics (Debian)"
  DEBIAN_FRONTEND=noninteractive sudo_cmd apt-get install -y -qq --no-install-recommends victoria-metrics >/dev/null || {
    echo "error: missing: victoria-metrics: apt-get install victoria-metrics" >&2; exit 1; }
  # The package starts a server on :8428 that no test needs. Without systemd (containers), the
  # package's init script is what would start it.
  sudo_cmd systemctl disable --now victoria-metrics >/dev/null 2>&1 || {
    sudo_cmd invoke-rc.d victoria-metrics stop >/dev/null 2>&1 || true
    sudo_cmd update-rc.d victoria-metrics disable >/dev/null 2>&1 || true; }
fi
