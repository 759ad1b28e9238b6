# RabbitMQ for the rabbitmq integration's tests (sourced by scripts/test; uses say and sudo_cmd).
# The broker on 127.0.0.1:5672 (guest/guest), its management API on :15672 and the
# rabbitmq_prometheus plugin on :15692; Python's pika as the tests' AMQP client.
rmq_http_up() {
  curl -s -o /dev/null -m 2 -u guest:guest http://127.0.0.1:15672/api/overview &&
    curl -s -o /dev/null -m 2 http://127.0.0.1:15692/metrics
}
if ! rmq_http_up; then
  if ! command -v rabbitmq-server >/dev/null || ! command -v rabbitmq-plugins >/dev/null; then
    echo "error: RabbitMQ not installed: apt-get install rabbitmq-server (3.10 or later)" >&2
    exit 1
  fi
  if ! rabbitmqctl -q status >/dev/null 2>&1; then
    say "starting RabbitMQ"
    rabbitmq-server -detached
    for _ in $(seq 60); do rabbitmqctl -q status >/dev/null 2>&1 && break; sleep 1; done
  fi
  enabled=$(rabbitmq-plugins list -e -m 2>/dev/null || true)
  if ! grep -qx rabbitmq_management <<<"$enabled" || ! grep -qx rabbitmq_prometheus <<<"$enabled"; then
    say "enabling rabbitmq_management rabbitmq_prometheus"
    rabbitmq-plugins enable rabbitmq_management rabbitmq_prometheus >/dev/null
  fi
  for _ in $(seq 60); do rmq_http_up && break; sleep 1; done
  rmq_http_up || {
    echo "error: RabbitMQ's management API (:15672, guest/guest) or rabbitmq_prometheus (:15692) does not answer: run rabbitmq-server -detached; rabbitmq-plugins enable rabbitmq_management rabbitmq_prometheus" >&2
    exit 1
  }
fi
if ! python3 -c 'import pika' 2>/dev/null; then
  say "installing pika (pip), the rabbitmq tests' AMQP client"
  python3 -m pip install -q pika || {
    echo "error: the rabbitmq tests need Python's pika: python3 -m pip install pika" >&2
    exit 1
  }
fi
