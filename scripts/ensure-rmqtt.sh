#!/usr/bin/env bash
# Installs the rmqtt broker (crate rmqttd, pinned) for `make test-interop` when it is missing.
# rmqttd builds only with --locked and needs protoc (Debian protobuf-compiler) and, for its
# Kafka bridge (librdkafka, built from source), cmake and a C++ compiler. The build takes
# minutes, so it is cached: under build/rmqtt by default, or $TETHER_RMQTT_HOME (CI points it
# outside the clone so that later runs on the same machine reuse it). Prints the binary's path.
set -euo pipefail
version=0.24.0
home=${TETHER_RMQTT_HOME:-$(pwd)/build/rmqtt}
bin="$home/bin/rmqttd"
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "$version"; then
    echo "$bin"
    exit 0
fi
need=()
command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler)
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
if [ "${#need[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "building rmqttd needs: ${need[*]} (run as root or install them)" >&2
        exit 1
    fi
    echo "installing ${need[*]} (rmqttd's build needs them)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
mkdir -p "$home"
echo "building rmqttd $version into $home (several minutes the first time)" >&2
start=$(date +%s)
CARGO_TARGET_DIR="$home/target" cargo install rmqttd --version "$version" --locked --root "$home" --quiet >&2
echo "rmqttd built in $(( $(date +%s) - start )) s" >&2
# The intermediate build is large; the binary is what later runs need.
rm -rf "$home/target"
echo "$bin"
