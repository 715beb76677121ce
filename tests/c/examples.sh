#!/usr/bin/env bash
# Runs the two examples as the README tells: a persistent subscriber leaves, a publisher
# sends while it is away, and the subscriber comes back to its queued messages.
#   examples.sh BUILD_DIR PORT
set -euo pipefail
bin=$1
port=$2
"$bin/persistent_subscriber" 127.0.0.1 "$port" 0
"$bin/publisher" 127.0.0.1 "$port" 3 | tee "$bin/publisher.out"
grep -q '^3 messages acknowledged$' "$bin/publisher.out"
"$bin/persistent_subscriber" 127.0.0.1 "$port" 3 | tee "$bin/subscriber.out"
grep -q 'session present: yes' "$bin/subscriber.out"
[ "$(grep -c '^example/greeting: hello [123]$' "$bin/subscriber.out")" -eq 3 ]
