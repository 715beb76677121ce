#!/usr/bin/env bash
# Installs what the benchmarks need when it is missing, and nothing else:
#   Debian: mosquitto (the broker), libpaho-mqtt-dev (Paho C, with its OpenSSL build
#           libpaho-mqtt3as), libmosquitto-dev (libmosquitto), libssl-dev (the libmosquitto
#           program reads the negotiated TLS session), openssl (the TLS row's certificates),
#           a C compiler and pkg-config;
#   PyPI:   paho-mqtt 2.x into the bench venv bench/target/venv (never into the system Python).
# rumqttc is fetched by cargo when bench/rust is built. Idempotent; safe to run repeatedly.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/target/venv"

need_apt=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then need_apt+=(mosquitto); fi
have_pkg libpaho-mqtt-dev || need_apt+=(libpaho-mqtt-dev)
have_pkg libmosquitto-dev || need_apt+=(libmosquitto-dev)
have_pkg libssl-dev || need_apt+=(libssl-dev)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v cc >/dev/null 2>&1 || need_apt+=(gcc libc6-dev)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
python_bin="$(command -v python3 || true)"
if [ -z "$python_bin" ]; then need_apt+=(python3 python3-venv); fi

if [ "${#need_apt[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "bench: missing Debian packages: ${need_apt[*]} (run as root or install them)" >&2
        exit 1
    fi
    echo "bench: installing ${need_apt[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "bench: cargo is missing: install the stable Rust toolchain (rustup)" >&2
    exit 1
fi

# The bench venv for paho-mqtt 2.x (the Python peer). The tether wheel lives in build/venv.
if [ ! -x "$venv/bin/python" ]; then
    mkdir -p "$here/target"
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" - <<'PY' >/dev/null 2>&1
import sys
import paho.mqtt
sys.exit(0 if paho.mqtt.__version__.split(".")[0] == "2" else 1)
PY
then
    echo "bench: installing paho-mqtt 2.x into $venv" >&2
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "paho-mqtt>=2,<3"
fi
