#!/usr/bin/env bash
# `make test-interop`: tether against a second, independent MQTT 5 server, rmqtt (rmqttd,
# pinned in scripts/ensure-rmqtt.sh, which installs it when missing): the Rust interop suite on
# mosquitto and on rmqtt side by side, the failover tests on a three-node rmqtt cluster, and
# the persistent session from C and Python against rmqtt. See tests/interop/README.md.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
CARGO="${CARGO:-cargo}"
start=$SECONDS
TETHER_RMQTTD="$(bash scripts/ensure-rmqtt.sh)"
export TETHER_RMQTTD
echo "== rmqttd: $TETHER_RMQTTD ($("$TETHER_RMQTTD" --version 2>/dev/null || echo '?'))"

echo "== Rust: the interop suite on mosquitto and rmqtt, the cluster failover tests"
"$CARGO" test -p tether-core --test interop -- --include-ignored
# One cluster at a time: three nodes each, on two cores.
"$CARGO" test -p tether-core --test cluster -- --include-ignored --test-threads 1

echo "== C: the persistent session and the seed scenario against rmqtt"
TETHER_C_BROKER=rmqtt TETHER_C_VALGRIND=0 bash tests/c/run.sh test_session test_same_story

echo "== Python: the persistent session and the seed scenario against rmqtt"
make --no-print-directory python-wheel >/dev/null
"$CARGO" build -q -p tether-testkit
(cd tests/python && TETHER_TEST_BROKER=rmqtt ../../build/venv/bin/python -m pytest -q test_session.py test_same_story.py)
echo "test-interop took $((SECONDS - start)) s"
