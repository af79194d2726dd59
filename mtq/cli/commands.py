"""``mtq topology``, ``mtq tiny-model``, ``mtq submit`` and ``mtq dlq``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from tqdm import tqdm

from mtq.core.errors import ConfigError
from mtq.core.languages import parse_route
from mtq.core.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    topology = subparsers.add_parser(
        "topology", help="declare exchanges and queues (idempotent)",
        description="Declare mtq.jobs, a quorum queue per route with its dead-letter queue, "
        "mtq.results with its retry ladder and parking queue. Safe to run again.",
    )
    topology.add_argument("--routes", help="language pairs, e.g. en-de,en-fr (MTQ_ROUTES)")
    topology.set_defaults(func=run_topology)

    tiny = subparsers.add_parser(
        "tiny-model", help="build the small offline model (meaningless translations)",
        description="Build a small Marian model with random weights and a real SentencePiece "
        "tokenizer, loadable with from_pretrained. Its translations are meaningless. "
        "--kind m2m100 or nllb builds a multilingual one with the family's language tokens; "
        "--kind trained copies the packaged model trained on the synthetic en-tvo pair, "
        "whose translations are right.",
    )
    tiny.add_argument("path", type=Path, help="directory to write the model into")
    tiny.add_argument(
        "--kind", choices=("marian", "m2m100", "nllb", "trained"), default="marian",
        help="model family: marian (en-de, default), m2m100 (__de__), nllb (deu_Latn); "
        "trained: the model that really translates the synthetic pair (en-tvo)",
    )
    tiny.set_defaults(func=run_tiny_model)

    submit = subparsers.add_parser(
        "submit", help="publish jobs from a text file or JSONL, with confirms",
        description="Publish jobs to mtq.jobs with publisher confirms. A text file is one "
        "segment per line (one job, split into parts of MTQ_MAX_JOB_SEGMENTS with ids "
        "<job-id>.part-<n>); a .jsonl file is one job object per line.",
    )
    submit.add_argument("input", help="text or .jsonl file, or - for stdin")
    submit.add_argument("--format", choices=("auto", "text", "jsonl"), default="auto")
    submit.add_argument("--job-id", help="job id for a text input")
    submit.add_argument("--route", help="language pair, e.g. en-de (sets source and target)")
    submit.add_argument("--callback-url", help="where the webhook events go")
    submit.add_argument("--beam-size", type=int)
    submit.add_argument("--max-new-tokens", type=int)
    submit.add_argument("--metadata", help="JSON object echoed back in the events")
    submit.add_argument("--tenant", help="who the jobs are for (fair shares between tenants)")
    submit.add_argument("--interactive", action="store_true",
                        help="publish to the interactive lane (<route>.interactive)")
    submit.add_argument("--quiet", action="store_true", help="no progress line")
    submit.set_defaults(func=run_submit)

    dlq = subparsers.add_parser("dlq", help="inspect and redrive dead-lettered jobs")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    listing = dlq_commands.add_parser("list", help="count dead-lettered jobs by reason")
    listing.add_argument("--route", help="only this route (default: MTQ_ROUTES)")
    listing.add_argument("--show", type=int, default=0, help="print the first N messages")
    listing.set_defaults(func=run_dlq_list)
    redrive = dlq_commands.add_parser("redrive", help="publish dead-lettered jobs again")
    redrive.add_argument("--route", required=True)
    redrive.add_argument("--limit", type=int, default=0, help="at most N messages (0: all)")
    redrive.set_defaults(func=run_dlq_redrive)

    demo = subparsers.add_parser(
        "demo", help="run everything locally on the tiny model and print a signed result"
    )
    demo.add_argument("--model-dir", type=Path, default=Path(".mtq/tiny-model"))
    demo.set_defaults(func=run_demo)


def _routes(settings: Settings, flag: str | None) -> tuple[str, ...]:
    if flag:
        routes = tuple(flag.replace(",", " ").split())
    elif settings.models:  # the routes a worker with this MTQ_MODELS consumes
        from mtq.core.model_routes import route_table

        routes = route_table(settings).routes
    else:
        routes = settings.routes
    for route in routes:
        parse_route(route)
    return routes


def run_topology(args: argparse.Namespace, settings: Settings) -> int:
    from mtq.client.declare import declare_all

    routes = _routes(settings, args.routes)
    asyncio.run(declare_all(settings.replace(routes=routes)))
    print(f"declared mtq.jobs with routes {', '.join(routes)}, mtq.results and its retry ladder")
    return 0


def run_tiny_model(args: argparse.Namespace, settings: Settings) -> int:
    from mtq.tools.tiny_model import MEANINGLESS_NOTICE, build_tiny_model
    from mtq.tools.trained_model import TRAINED_NOTICE

    path = build_tiny_model(args.path, kind=args.kind)
    print(f"{'trained' if args.kind == 'trained' else 'tiny'} model written to {path}")
    print(f"NOTE: {TRAINED_NOTICE if args.kind == 'trained' else MEANINGLESS_NOTICE}")
    return 0


def run_submit(args: argparse.Namespace, settings: Settings) -> int:
    from mtq.client.submit import (
        JobDefaults,
        jobs_from_jsonl,
        jobs_from_text,
        publish_all,
        read_input,
    )
    from mtq.core.contract import JobLimits

    source = target = None
    if args.route:
        source, target = parse_route(args.route)
    options = {
        key: value
        for key, value in (("beam_size", args.beam_size), ("max_new_tokens", args.max_new_tokens))
        if value is not None
    }
    metadata = None
    if args.metadata:
        try:
            metadata = json.loads(args.metadata)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--metadata is not JSON: {exc.msg}") from exc
    defaults = JobDefaults(source, target, args.callback_url, options or None, metadata,
                           args.tenant)
    lines = read_input(args.input)
    fmt = args.format
    if fmt == "auto":
        fmt = "jsonl" if args.input.endswith((".jsonl", ".ndjson")) else "text"
    if fmt == "text":
        missing = [
            flag for flag, value in (
                ("--job-id", args.job_id), ("--route", args.route),
                ("--callback-url", args.callback_url),
            ) if not value
        ]
        if missing:
            raise ConfigError(f"a text input needs {', '.join(missing)}")
        jobs = iter(jobs_from_text(lines, args.job_id, defaults, settings.max_job_segments))
    else:
        jobs = jobs_from_jsonl(lines, defaults, settings.max_job_segments)
    limits = JobLimits.from_settings(settings)
    # tqdm's line on stderr (only on a terminal): segments confirmed so far and their rate.
    with tqdm(desc="published", unit=" segments", file=sys.stderr, mininterval=0.5,
              disable=args.quiet or not sys.stderr.isatty()) as progress:
        count, segments = publish_all(
            jobs, settings.amqp_url, limits,
            lambda job: progress.update(len(job["segments"])), interactive=args.interactive,
        )
    print(f"published {count} jobs ({segments} segments), all confirmed by the broker")
    return 0


def run_dlq_list(args: argparse.Namespace, settings: Settings) -> int:
    from mtq.client.dead_letters import summarize

    for route in _routes(settings, args.route):
        summary = summarize(settings.amqp_url, route, show=args.show)
        print(f"{summary.queue}: {summary.count} message(s)")
        for reason, count in sorted(summary.reasons.items(), key=lambda item: -item[1]):
            print(f"  {count:6d}  {reason}")
        for sample in summary.samples:
            print(f"  - {sample}")
    return 0


def run_dlq_redrive(args: argparse.Namespace, settings: Settings) -> int:
    from mtq.client.dead_letters import redrive

    parse_route(args.route)
    moved = redrive(settings.amqp_url, args.route, limit=args.limit)
    print(f"redrove {moved} message(s) from the dead-letter queue of {args.route}")
    return 0


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    from mtq.tools.demo import run

    return run(settings, args.model_dir)
