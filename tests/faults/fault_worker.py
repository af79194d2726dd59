"""``python -m tests.faults.fault_worker [mtq options] worker ...``: the real ``mtq worker``
on a :class:`~tests.faults.faulty_engine.FaultyEngine`, for fault tests with child processes.

Same arguments and settings as ``python -m mtq worker``; only the engine differs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from mtq.cli.main import build_parser, configure_logging
from mtq.core.settings import Settings
from tests.faults.faulty_engine import FaultyEngine
from worker.cli import serve
from worker.engines import Engine, load_engine


def load_faulty_engine(settings: Settings) -> Engine:
    return FaultyEngine(load_engine(settings))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command != "worker":
        print("fault_worker: only the worker command is supported", file=sys.stderr)
        return 2
    configure_logging(args.log_level)
    return serve(args, Settings.from_env(amqp_url=args.amqp_url), load_faulty_engine)


if __name__ == "__main__":
    sys.exit(main())
