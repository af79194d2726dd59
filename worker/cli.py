"""``mtq worker``."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mtq.core.contract import DecodeOptions
from mtq.core.settings import Settings

if TYPE_CHECKING:
    from worker.engines import Engine

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="consume jobs, translate them in micro-batches, publish results",
        description="Consume translation jobs from mtq.jobs.<route> queues and publish "
        "job.completed / job.failed events to mtq.results.",
    )
    parser.add_argument("--model", help="HF model id or local directory (MTQ_MODEL)")
    parser.add_argument("--routes", help="language pairs to serve, e.g. en-de,en-fr (MTQ_ROUTES)")
    parser.add_argument("--prefetch", type=int, help="unacked jobs per consumer (MTQ_PREFETCH)")
    parser.add_argument("--metrics-port", type=int, help="port for /metrics, /healthz, /readyz")
    parser.add_argument(
        "--no-auto-budget", dest="auto_budget", action="store_false",
        help="keep MTQ_BATCH_TOKENS as set instead of sizing it from GPU memory at start",
    )
    parser.add_argument(
        "--burst", action="store_true",
        help="exit once the queues are empty and nothing is in flight (tests, batch runs)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from worker.engines import load_engine

    return serve(args, settings, load_engine)


def serve(
    args: argparse.Namespace, settings: Settings, load_engine: Callable[[Settings], Engine]
) -> int:
    """Run the worker on the engine ``load_engine`` builds (tests wrap the real one)."""
    from worker.app import Worker

    overrides: dict[str, Any] = {
        "model": args.model,
        "prefetch": args.prefetch,
        "metrics_port": args.metrics_port,
        "routes": tuple(args.routes.replace(",", " ").split()) if args.routes else None,
    }
    settings = settings.replace(**{k: v for k, v in overrides.items() if v is not None})
    from worker.engines.model_set import ModelSet

    # Every model of MTQ_MODELS (or MTQ_MODEL), loaded now; the worker consumes their routes.
    # models:/NAME@ALIAS and models:/NAME/VERSION come from the MLflow registry (registry/).
    from worker.registry.loader import RegistryLoader

    loader = RegistryLoader(load_engine, cache=settings.registry_cache)
    engine = ModelSet.load(settings, loader)
    for model in engine.engines.values():
        log.info("model %s revision %s", model.info.name, model.info.revision)
    if args.auto_budget:
        options = DecodeOptions(settings.default_beam_size, settings.default_max_new_tokens)
        settings = settings.replace(
            batch_tokens=engine.suggest_token_budget(settings.batch_tokens, options)
        )
    return asyncio.run(Worker(settings, engine, loader=loader).run(burst=args.burst))
