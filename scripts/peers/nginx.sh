# nginx (Debian's package) for the access_log integration's tests (sourced by scripts/test).
# The tests start throw-away nginx processes of their own (lib/dozor-testkit/src/nginx.rs: a
# configuration in a temporary directory, a free loopback port), so only the binary is needed;
# the package's own service is not used.

if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  say "installing nginx (Debian)"
  sudo_cmd apt-get install -y --no-install-recommends nginx || {
    echo "error: missing: nginx: apt-get install nginx" >&2; exit 1; }
  # The package starts a server on :80 that no test needs.
  sudo_cmd systemctl disable --now nginx >/dev/null 2>&1 || true
fi
