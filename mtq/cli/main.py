"""The ``mtq`` console script: one entry point, one subcommand per concern.

Each command module exposes ``register(subparsers)``, which adds its subcommands and sets
``func(args, settings) -> int`` on them. Settings are built here once (env first, then flags)
and passed down; logging is configured here and nowhere else.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from gateway import cli as gateway_cli
from mtq.cli import commands, glossary, loop
from mtq.core.errors import BrokerUnreachable, ConfigError, InputError, MtqError
from mtq.core.settings import Settings
from mtq.tools import convert, plan
from webhooks import cli as webhooks_cli
from worker import cli as worker_cli

log = logging.getLogger("mtq")

Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _registrars() -> list[Registrar]:
    return [commands.register, worker_cli.register, webhooks_cli.register, plan.register,
            convert.register, glossary.register, loop.register, gateway_cli.register]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mtq",
        description="Batch machine translation over RabbitMQ. Settings come from MTQ_* "
        "environment variables; flags override them.",
    )
    parser.add_argument("--amqp-url", help="broker URL (MTQ_AMQP_URL)")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in _registrars():
        register(subparsers)
    return parser


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    root = logging.getLogger().level
    for noisy in ("aiormq", "aio_pika", "urllib3", "filelock", "httpx"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root))
    # aiormq logs every failed connect as an ERROR; the reconnect loops and the wait for the
    # broker at start (mtq/client/broker_wait.py) report each attempt in one line of their own.
    logging.getLogger("aiormq.connection").addFilter(
        lambda record: not record.getMessage().startswith("error when creating transport")
    )
    # pika (console commands only) logs a refused connection as ERROR with a traceback; the
    # command reports it once, in one line (mtq.client.broker), so pika speaks only when debugging.
    logging.getLogger("pika").setLevel(logging.DEBUG if root <= logging.DEBUG else logging.CRITICAL)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    try:
        settings = Settings.from_env(amqp_url=args.amqp_url)
        result: int = args.func(args, settings)
        return result
    except BrokerUnreachable as exc:
        print(f"mtq: {exc}", file=sys.stderr)
        return 2
    except InputError as exc:
        print(f"mtq: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"mtq: configuration error: {exc}", file=sys.stderr)
        return 2
    except MtqError as exc:
        print(f"mtq: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
