#!/usr/bin/env bash
# `make test-interop`: tether against a second, independent MQTT 5 server, rmqtt (rmqttd,
# pinned in scripts/ensure-rmqtt.sh, which installs it when missing): the Rust interop suite on
# mosquitto and on rmqtt side by side, the persistent session from C and Python, a shared
# subscription member that dies mid-stream and server lists (Python) against rmqtt, and
# failover across a three-node rmqtt raft cluster from Rust and Python
# (TETHER_INTEROP_CLUSTER=0 skips that). See tests/interop/README.md.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
CARGO="${CARGO:-cargo}"
start=$SECONDS
TETHER_RMQTTD="$(bash scripts/ensure-rmqtt.sh)"
export TETHER_RMQTTD
echo "== rmqttd: $TETHER_RMQTTD ($("$TETHER_RMQTTD" --version 2>/dev/null || echo '?'))"

echo "== Rust: the interop suite on mosquitto and rmqtt"
"$CARGO" test -p tether-core --test interop -- --include-ignored
# Failover across a three-node rmqtt raft cluster, one cluster at a time (three nodes each, on
# two cores); TETHER_INTEROP_CLUSTER=0 skips it. The broadcast cluster stalls for minutes after
# a node dies (tests/interop/README.md, "Cluster"): run broadcast_cluster_publisher_node_killed
# by name to measure it.
if [ "${TETHER_INTEROP_CLUSTER:-1}" = 1 ]; then
    echo "== Rust: failover across a three-node rmqtt raft cluster"
    "$CARGO" test -p tether-core --test cluster -- --include-ignored --test-threads 1 --nocapture \
        --skip broadcast_
fi

echo "== C: the persistent session, the will and a server list against rmqtt"
TETHER_C_BROKER=rmqtt TETHER_C_VALGRIND=0 bash tests/c/run.sh test_session test_failover

echo "== Python: the persistent session, shared subscriptions, server lists and the raft cluster, against rmqtt"
make --no-print-directory python-wheel >/dev/null
"$CARGO" build -q -p tether-testkit
python_tests=(test_session.py test_shared.py test_failover.py)
if [ "${TETHER_INTEROP_CLUSTER:-1}" = 1 ]; then python_tests+=(test_cluster.py); fi
(cd tests/python && TETHER_TEST_BROKER=rmqtt ../../build/venv/bin/python -m pytest -q -s "${python_tests[@]}")
echo "test-interop took $((SECONDS - start)) s"
