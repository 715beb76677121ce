#!/usr/bin/env bash
# Installs what the build and the tests need when it is missing: a mosquitto 2.x broker (the
# tests start their own on a free port; the system service is never used). Idempotent.
set -euo pipefail

need_apt=()
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
    need_apt+=(mosquitto)
fi
# The C suite (make test-c): a C and a C++ compiler, pkg-config, valgrind.
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
command -v valgrind >/dev/null 2>&1 || need_apt+=(valgrind)
# The TLS tests convert test keys between PKCS#1, PKCS#8 and SEC1 (core/tests/tls.rs).
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
if [ "${#need_apt[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages: ${need_apt[*]} (run as root or install them)" >&2
        exit 1
    fi
    echo "installing ${need_apt[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is missing: install the stable Rust toolchain (rustup)" >&2
    exit 1
fi

# `ensure-deps.sh python`: also the Python tool chain of the wheel and its tests, in a virtual
# environment under build/ (maturin builds the wheel; pytest, mypy and ruff check it).
if [ "${1:-}" = "python" ]; then
    venv=${TETHER_VENV:-build/venv}
    python=${PYTHON:-python3}
    tools=(maturin==1.16.0 pytest==9.2.0 pytest-timeout==2.4.0 mypy==2.4.1 ruff==0.17.6)
    if ! command -v "$python" >/dev/null 2>&1; then
        if [ "$(id -u)" -ne 0 ]; then
            echo "python3 is missing (run as root or install it)" >&2
            exit 1
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends python3 python3-venv python3-pip >/dev/null
        python=python3
    fi
    if [ ! -x "$venv/bin/python" ]; then
        if ! "$python" -m venv "$venv" >/dev/null 2>&1; then
            if [ "$(id -u)" -ne 0 ]; then
                echo "'$python -m venv' fails: install python3-venv (run as root)" >&2
                exit 1
            fi
            echo "installing python3-venv" >&2
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq
            apt-get install -y -qq --no-install-recommends python3-venv python3-pip >/dev/null
            rm -rf "$venv"
            "$python" -m venv "$venv"
        fi
    fi
    stamp="$venv/.tether-tools-$(echo "${tools[*]}" | cksum | cut -d' ' -f1)"
    if [ ! -f "$stamp" ]; then
        echo "installing ${tools[*]} into $venv" >&2
        "$venv/bin/python" -m pip install -q --disable-pip-version-check "${tools[@]}"
        touch "$stamp"
    fi
fi
