# Kafka peers for the `kafka` integration's tests (sourced by scripts/test).
#
# - noida-db (PyPI): a static binary speaking the Kafka protocol; each test starts its own with
#   `noida-db start --only kafka --kafka-port N --data-dir DIR` (dozor_testkit::kafka), so
#   nothing is started here.
# - kafka-python (PyPI): the client the tests produce and commit with.
# - kcat (Debian): a Kafka client for trying things by hand (docs/queues-kafka.md).
#
# Idempotent: when all three are present it only checks, in well under a second.

kafka_need_pip=()
command -v noida-db >/dev/null 2>&1 || kafka_need_pip+=(noida-db)
python3 -c 'import kafka' >/dev/null 2>&1 || kafka_need_pip+=(kafka-python)
if ((${#kafka_need_pip[@]})); then
  say "installing ${kafka_need_pip[*]} (pip)"
  if ! python3 -m pip install -q "${kafka_need_pip[@]}"; then
    echo "kafka peers: pip install ${kafka_need_pip[*]} failed; install them by hand (python3 -m pip install ${kafka_need_pip[*]})" >&2
    exit 1
  fi
  hash -r
fi
if ! command -v noida-db >/dev/null 2>&1; then
  echo "kafka peers: noida-db is installed but not on PATH; add the directory of python3 -m pip show -f noida-db's script to PATH" >&2
  exit 1
fi
if ! command -v kcat >/dev/null 2>&1; then
  say "installing kcat (apt-get)"
  sudo_cmd apt-get install -y -qq --no-install-recommends kcat >/dev/null \
    || { sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive sudo_cmd apt-get install -y -qq --no-install-recommends kcat >/dev/null; } \
    || { echo "kafka peers: apt-get install kcat failed; install it by hand" >&2; exit 1; }
fi
unset kafka_need_pip
