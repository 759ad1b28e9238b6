# Redis on 127.0.0.1:6379 for the redis integration's tests (sourced by scripts/test), and
# Debian's prometheus-redis-exporter, the peer of docs/benchmarks-redis.md. The error tests
# start throw-away redis-servers of their own from the same binary. Installs what is missing;
# starts the shared server when stopped (no persistence).

missing=""
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v prometheus-redis-exporter >/dev/null 2>&1 || missing="$missing prometheus-redis-exporter"
if [ -n "$missing" ]; then
  say "installing$missing (Debian)"
  # shellcheck disable=SC2086
  sudo_cmd apt-get install -y --no-install-recommends $missing || {
    echo "error: missing:$missing: apt-get install$missing" >&2; exit 1; }
  # The package starts its own exporter on :9121; the benchmark starts one of its own.
  sudo_cmd systemctl disable --now prometheus-redis-exporter >/dev/null 2>&1 || true
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  say "starting redis-server on 127.0.0.1:6379"
  sudo_cmd mkdir -p /var/lib/redis /var/log/redis
  sudo_cmd redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || {
    echo "error: redis-server did not come up on 127.0.0.1:6379: see /var/log/redis/ci.log" >&2; exit 1; }
fi
