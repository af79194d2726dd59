#!/usr/bin/env bash
# One command: set everything up and run the whole test suite (unit, integration, fault,
# deployment). Needs root or an existing kubectl/RabbitMQ for the tools installed below.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/tools.sh
scripts/rabbitmq.sh --management
scripts/redis.sh

# Build the tiny model once for the whole run instead of once per test process.
export MTQ_TEST_TINY_MODEL="${MTQ_TEST_TINY_MODEL:-$PWD/.mtq/test-tiny-model}"
if [ ! -f "$MTQ_TEST_TINY_MODEL/config.json" ]; then
    .venv/bin/mtq --log-level WARNING tiny-model "$MTQ_TEST_TINY_MODEL" >/dev/null
fi

.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
