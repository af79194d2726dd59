#!/usr/bin/env bash
# One command: set everything up and run the demo on the built-in tiny model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/rabbitmq.sh
exec .venv/bin/mtq demo "$@"
