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

from mtq.errors import ConfigError, MtqError
from mtq.settings import Settings

log = logging.getLogger("mtq")

Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _registrars() -> list[Registrar]:
    # Imported lazily so `mtq submit` does not pay for importing torch.
    from mtq import commands

    registrars: list[Registrar] = [commands.register]
    for module_name in ("worker.cli", "webhooks.cli", "mtq.plan", "mtq.convert"):
        try:
            module = __import__(module_name, fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        registrars.append(module.register)
    return registrars


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
    for noisy in ("aiormq", "aio_pika", "pika", "urllib3", "filelock", "httpx"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    try:
        settings = Settings.from_env(amqp_url=args.amqp_url)
        result: int = args.func(args, settings)
        return result
    except ConfigError as exc:
        print(f"mtq: configuration error: {exc}", file=sys.stderr)
        return 2
    except MtqError as exc:
        print(f"mtq: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
