#!/usr/bin/env bash
# Make sure a RabbitMQ answers on 127.0.0.1:5672 (start the local one if it is installed).
# With --management, also enable the management plugin and wait for its API on :15672.
set -euo pipefail

answers() { (exec 3<>/dev/tcp/127.0.0.1/"$1") >/dev/null 2>&1; }

wait_for_port() {
    for _ in $(seq 1 120); do
        if answers "$1"; then return 0; fi
        sleep 1
    done
    return 1
}

if ! answers 5672; then
    if command -v rabbitmq-server >/dev/null 2>&1; then
        echo "rabbitmq: not running; starting it (rabbitmq-server -detached)"
        rabbitmq-server -detached || true
    else
        echo "rabbitmq: nothing answers on 127.0.0.1:5672 and rabbitmq-server is not installed." >&2
        echo "  Install and start it, e.g.: apt-get install rabbitmq-server && rabbitmq-server -detached" >&2
        exit 1
    fi
    wait_for_port 5672 || { echo "rabbitmq: did not come up on :5672" >&2; exit 1; }
fi
if command -v rabbitmqctl >/dev/null 2>&1; then
    rabbitmqctl -q await_startup >/dev/null 2>&1 || rabbitmqctl wait --timeout 120 >/dev/null 2>&1 || true
fi
if [ "${1:-}" = "--management" ]; then
    if ! answers 15672; then
        echo "rabbitmq: enabling the management plugin"
        rabbitmq-plugins enable rabbitmq_management >/dev/null
        wait_for_port 15672 || { echo "rabbitmq: management API did not come up on :15672" >&2; exit 1; }
    fi
fi
echo "rabbitmq: answering on 127.0.0.1:5672"
