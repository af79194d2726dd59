#!/usr/bin/env bash
# Make sure redis-server is installed (the cache tests start private ones) and a Redis answers
# on 127.0.0.1:6379 (the shared-cache tests use databases 8-15 of it).
set -euo pipefail

answers() { (exec 3<>/dev/tcp/127.0.0.1/6379) >/dev/null 2>&1; }

if ! command -v redis-server >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "redis: installing redis-server (Debian package)"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    else
        echo "redis: redis-server is missing; install it (Debian: apt-get install redis-server)" >&2
        exit 1
    fi
fi
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
