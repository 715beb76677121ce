#!/usr/bin/env bash
# Runs the Python persistent-session demo against a mosquitto it starts on a free port, and
# stops that broker (by PID) afterwards. Usage: run_demo.sh PYTHON
set -euo pipefail
python=${1:?usage: run_demo.sh PYTHON}
here=$(cd "$(dirname "$0")" && pwd)
mosquitto=${TETHER_MOSQUITTO:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}
dir=$(mktemp -d)
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
{
    echo "listener $port 127.0.0.1"
    echo "allow_anonymous true"
    echo "persistence false"
    echo "max_queued_messages 10000"
    echo "log_dest file $dir/mosquitto.log"
    if [ "$(id -u)" -eq 0 ]; then echo "user root"; fi
} > "$dir/mosquitto.conf"
"$mosquitto" -c "$dir/mosquitto.conf" 2>"$dir/stderr.log" &
pid=$!
cleanup() {
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
# Wait (at most 10 s) until the broker accepts connections.
for _ in $(seq 100); do
    if "$python" -c "import socket, sys; socket.create_connection(('127.0.0.1', $port), 0.2).close()" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "mosquitto did not start:" >&2
        cat "$dir/mosquitto.log" >&2 || true
        exit 1
    fi
    sleep 0.1
done
echo "mosquitto (pid $pid) listens on 127.0.0.1:$port"
"$python" "$here/persistent_session.py" "$port"
echo "stopping mosquitto (pid $pid)"
