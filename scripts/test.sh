#!/usr/bin/env bash
# One command: set everything up, run the static checks and the whole test suite (unit,
# integration, fault, deployment). Needs root or an existing kubectl/RabbitMQ for the tools below.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/tools.sh
scripts/rabbitmq.sh --management
scripts/redis.sh
scripts/postgres.sh

# Build the tiny model once for the whole run instead of once per test process.
export MTQ_TEST_TINY_MODEL="${MTQ_TEST_TINY_MODEL:-$PWD/.mtq/test-tiny-model}"
if [ ! -f "$MTQ_TEST_TINY_MODEL/config.json" ]; then
    .venv/bin/mtq --log-level WARNING tiny-model "$MTQ_TEST_TINY_MODEL" >/dev/null
fi

# Static checks first: lint and complexity (ruff), strict types of the product packages (mypy,
# configured in pyproject.toml; incremental, so a re-run takes seconds), the import layering.
.venv/bin/ruff check .
.venv/bin/mypy
# The layering contracts (pyproject.toml, [tool.importlinter]): no cycles between layers, the
# core imports nothing of the project, engines no broker code, nothing imports the CLI.
.venv/bin/lint-imports --no-cache
exec .venv/bin/python -m pytest "$@"
