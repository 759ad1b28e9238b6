# NATS with JetStream on 127.0.0.1:4222 for the nats integration's tests (sourced by
# scripts/test). The error tests start throw-away nats-servers of their own from the same
# binary. Installs Debian's nats-server when missing; starts the shared one when stopped.

if ! command -v nats-server >/dev/null 2>&1; then
  say "installing nats-server (Debian)"
  sudo_cmd apt-get install -y --no-install-recommends nats-server || {
    echo "error: nats-server is missing: apt-get install nats-server" >&2; exit 1; }
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; then
  say "starting nats-server -js on 127.0.0.1:4222"
  sudo_cmd mkdir -p /var/lib/nats-server
  sudo_cmd start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null && break; sleep 0.1; done
  (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null || {
    echo "error: nats-server did not come up on 127.0.0.1:4222: see /var/log/nats-server.log" >&2; exit 1; }
fi
