#!/usr/bin/env bash
# The C suite (`make test-c`): checks that include/tether.h is what cbindgen makes from ffi/,
# that it compiles as C99 and C++17, builds libtether, the C tests and the examples, starts a
# mosquitto through the test kit, and runs every test, then all of them again under valgrind.
#
#   tests/c/run.sh [test_name...]      e.g. tests/c/run.sh test_api
#   TETHER_C_VALGRIND=0 tests/c/run.sh skips the valgrind pass.
#   TETHER_C_BROKER=rmqtt runs them against an rmqtt node instead (make test-interop).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
CARGO="${CARGO:-cargo}"
CBINDGEN_VERSION=0.29.2
OUT="$ROOT/target/c"
LIB="$ROOT/target/release"
VALGRIND="${TETHER_C_VALGRIND:-1}"
mkdir -p "$OUT"
start=$SECONDS

step() { printf '== %s\n' "$*"; }
die() { printf 'test-c: %s\n' "$*" >&2; exit 1; }

# --- cbindgen, pinned -------------------------------------------------------------------
if ! command -v cbindgen >/dev/null || [ "$(cbindgen --version)" != "cbindgen $CBINDGEN_VERSION" ]; then
    step "installing cbindgen $CBINDGEN_VERSION"
    "$CARGO" install cbindgen --version "$CBINDGEN_VERSION" --locked --force
fi

# --- build --------------------------------------------------------------------------------
step "building libtether (release) and the test kit"
"$CARGO" build -p tether-ffi --release
"$CARGO" build -p tether-testkit --release --bin tether-testkit
TESTKIT="$ROOT/target/release/tether-testkit"
# For the tests that start brokers and fault proxies of their own (test_faults).
export TETHER_TESTKIT="$TESTKIT"

# --- the header ---------------------------------------------------------------------------
step "checking include/tether.h"
cbindgen --config ffi/cbindgen.toml --crate tether-ffi --output "$OUT/tether.h" 2>"$OUT/cbindgen.log" \
    || { cat "$OUT/cbindgen.log" >&2; die "cbindgen failed"; }
if ! diff -u include/tether.h "$OUT/tether.h"; then
    die "include/tether.h is stale; regenerate it: cbindgen --config ffi/cbindgen.toml --crate tether-ffi --output include/tether.h"
fi
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
macros=$(awk '/#define TETHER_VERSION_(MAJOR|MINOR|PATCH)/ {printf "%s%s", sep, $3; sep="."}' include/tether.h)
[ "$version" = "$macros" ] || die "TETHER_VERSION_* in the header ($macros) differ from Cargo.toml ($version)"
printf '#include "tether.h"\nint main(void) { return tether_version() == 0; }\n' >"$OUT/header_c.c"
cp "$OUT/header_c.c" "$OUT/header_cxx.cpp"
gcc -std=c99 -Wall -Wextra -Werror -pedantic -Iinclude -c "$OUT/header_c.c" -o "$OUT/header_c.o"
g++ -std=c++17 -Wall -Wextra -Werror -pedantic -Iinclude -c "$OUT/header_cxx.cpp" -o "$OUT/header_cxx.o"

# --- pkg-config file ----------------------------------------------------------------------
cat >"$ROOT/target/tether.pc" <<EOF
prefix=$ROOT
includedir=\${prefix}/include
libdir=\${prefix}/target/release

Name: tether
Description: MQTT 5.0 client whose session survives (C API)
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -ltether
Libs.private: -lpthread -ldl -lm
EOF

# --- compile ------------------------------------------------------------------------------
step "compiling the C tests and examples"
CFLAGS=(-std=c11 -g -O1 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L)
tests=()
if [ "$#" -gt 0 ]; then tests=("$@"); else
    for f in tests/c/test_*.c; do tests+=("$(basename "$f" .c)"); done
fi
for t in "${tests[@]}"; do
    gcc "${CFLAGS[@]}" -Iinclude "tests/c/$t.c" -o "$OUT/$t" \
        -L"$LIB" -Wl,-rpath,"$LIB" -ltether -lpthread
done
# The examples link the static library, through pkg-config, as an application would.
export PKG_CONFIG_PATH="$ROOT/target${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
for f in examples/c/*.c; do
    e=$(basename "$f" .c)
    # shellcheck disable=SC2046
    gcc "${CFLAGS[@]}" $(pkg-config --cflags tether) "$f" -o "$OUT/$e" \
        "$LIB/libtether.a" $(pkg-config --libs-only-l --static tether | sed 's/-ltether//')
done

# --- broker -------------------------------------------------------------------------------
if [ "${TETHER_C_BROKER:-mosquitto}" = rmqtt ]; then
    # make test-interop: the same tests against an rmqtt node (TETHER_RMQTTD names rmqttd).
    step "starting rmqtt"
    coproc BROKER { exec "$TESTKIT" rmqtt 2>"$OUT/broker.log"; }
else
    step "starting mosquitto"
    # Empty client identifiers are refused, so that test_api can see a CONNACK refusal.
    coproc BROKER { exec "$TESTKIT" broker --config-line "allow_zero_length_clientid false" 2>"$OUT/broker.log"; }
fi
BROKER_PID=$BROKER_PID
stop_broker() {
    if [ -n "${BROKER_PID:-}" ]; then
        # EOF on its stdin stops the test kit, which stops mosquitto.
        eval "exec ${BROKER[1]}>&-" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
        BROKER_PID=
    fi
}
trap stop_broker EXIT
read -r -t 30 word port <&"${BROKER[0]}" || die "the broker did not start: $(cat "$OUT/broker.log")"
[ "$word" = PORT ] || die "unexpected broker output: $word $port"
export TETHER_TEST_PORT="$port"

# --- run ----------------------------------------------------------------------------------
passed=0
failed=0
run() { # name, command...
    local name=$1
    shift
    local t0=$SECONDS
    if timeout 300 "$@" >"$OUT/$name.log" 2>&1; then
        passed=$((passed + 1))
        printf 'PASS %-40s %3ds\n' "$name" $((SECONDS - t0))
    else
        failed=$((failed + 1))
        printf 'FAIL %-40s %3ds\n' "$name" $((SECONDS - t0))
        sed 's/^/    /' "$OUT/$name.log"
    fi
}

step "running the C tests against ${TETHER_C_BROKER:-mosquitto} on port $port"
for t in "${tests[@]}"; do run "$t" "$OUT/$t"; done
if [ "$#" -eq 0 ]; then
    run example_publish_then_resume bash tests/c/examples.sh "$OUT" "$port"
fi

if [ "$VALGRIND" != 0 ]; then
    command -v valgrind >/dev/null || die "valgrind is missing (scripts/ensure-deps.sh installs it)"
    step "running the C tests under valgrind"
    for t in "${tests[@]}"; do
        # TETHER_TEST_VALGRIND tells a long test (test_faults) to shorten its stream.
        run "valgrind:$t" env TETHER_TEST_VALGRIND=1 valgrind -q --error-exitcode=1 --num-callers=40 --leak-check=full --show-leak-kinds=definite,indirect,possible \
            --errors-for-leak-kinds=definite,indirect,possible --track-fds=no \
            --suppressions=tests/c/valgrind.supp "$OUT/$t"
    done
fi

stop_broker
printf 'C suite took %ds\n' $((SECONDS - start))
printf 'test-c: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
