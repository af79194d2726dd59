#!/usr/bin/env bash
# The cluster fault suite (docs/reliability.md, "Broker nodes"): starts a private three-node
# RabbitMQ cluster on free ports of this machine (the machine's own broker is left alone), runs
# real workers and dispatchers against it, kills the leaders of mtq.jobs.<route> and
# mtq.results with kill -9, stops a follower for longer than the reconnect backoff, and prints
# the table of figures. Exit status 0 when nothing was lost. Options:
#   --workers N --dispatchers N --rate JOBS_PER_S --keep (keep the logs) --json FILE
set -euo pipefail
cd "$(dirname "$0")/.."
export MTQ_TEST_TINY_MODEL="${MTQ_TEST_TINY_MODEL:-$PWD/.mtq/test-tiny-model}"
if [ ! -f "$MTQ_TEST_TINY_MODEL/config.json" ]; then
    .venv/bin/mtq --log-level WARNING tiny-model "$MTQ_TEST_TINY_MODEL" >/dev/null
fi
exec .venv/bin/python -m tests.cluster.suite --model "$MTQ_TEST_TINY_MODEL" "$@"
