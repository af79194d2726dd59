#!/usr/bin/env bash
# Make sure redis-server is installed (the cache tests start private ones) and a Redis answers
# on 127.0.0.1:6379 (the shared-cache tests use databases 8-15 of it).
set -euo pipefail

answers() { (exec 3<>/dev/tcp/127.0.0.1/6379) >/dev/null 2>&1; }

source "$(dirname "$0")/debian.sh"
install_missing redis redis-server redis-server
if ! answers; then
    echo "redis: not running; starting it (redis-server --daemonize yes)"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
    for _ in $(seq 1 60); do
        if answers; then break; fi
        sleep 0.5
    done
    answers || { echo "redis: did not come up on :6379" >&2; exit 1; }
fi
echo "redis: answering on 127.0.0.1:6379"
