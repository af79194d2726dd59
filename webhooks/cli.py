"""``mtq dispatcher`` and ``mtq webhooks list|inspect|redrive|check`` (wired by mtq.cli.main)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from typing import Any

from mtq.core.callback_policy import NetworkPolicy, UnusableCallback
from mtq.core.settings import Settings
from webhooks.http.ssrf import ResolutionFailed, resolve_destination
from webhooks.parking import ParkedEvent, Selector, list_parked, redrive, summarize


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dispatcher = subparsers.add_parser(
        "dispatcher", help="deliver result events from mtq.results as signed webhooks",
        description="Consume mtq.results and POST each event to its callback_url with Standard "
        "Webhooks signatures; failed deliveries go through the retry ladder, then parking.",
    )
    dispatcher.add_argument("--burst", action="store_true",
                            help="exit once mtq.results is empty and nothing is in flight")
    dispatcher.add_argument("--drain-timeout", type=float, metavar="S",
                            help="seconds to finish in-flight deliveries on SIGTERM "
                            "(MTQ_DRAIN_TIMEOUT_S)")
    dispatcher.add_argument("--concurrency", type=int, metavar="N",
                            help="deliveries in flight at once (MTQ_WEBHOOK_CONCURRENCY)")
    dispatcher.set_defaults(func=_dispatcher)

    hooks = subparsers.add_parser("webhooks", help="inspect and redrive parked webhook events")
    commands = hooks.add_subparsers(dest="webhooks_command", required=True, metavar="ACTION")

    listing = commands.add_parser("list", aliases=["parked"], help="list parked events")
    _add_filters(listing)
    listing.add_argument("--limit", type=int, default=100, help="show at most N (default 100)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=_list)

    inspect = commands.add_parser("inspect", help="parked count, by host, reason, last error")
    inspect.add_argument("--top", type=int, default=10, help="rows per table (default 10)")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    inspect.set_defaults(func=_inspect)

    again = commands.add_parser(
        "redrive", help="move parked events back to mtq.results (attempts reset)"
    )
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every parked event")
    which.add_argument("--job-id", help="events of this job id")
    which.add_argument("--host", help="events whose callback host is HOST")
    again.add_argument("--limit", type=int, help="move at most N events")
    again.add_argument("--dry-run", action="store_true", help="only say what would move")
    again.set_defaults(func=_redrive)

    check = commands.add_parser("check", help="would the SSRF policy allow this callback URL?")
    check.add_argument("url")
    check.set_defaults(func=_check)


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--job-id", help="only events of this job id")
    parser.add_argument("--host", help="only events whose callback host is HOST")


def _dispatcher(args: argparse.Namespace, settings: Settings) -> int:
    from webhooks.dispatcher import run_dispatcher  # aio-pika only when dispatching

    overrides: dict[str, Any] = {}
    if args.drain_timeout is not None:
        overrides["drain_timeout_s"] = args.drain_timeout
    if args.concurrency is not None:
        overrides["webhook_concurrency"] = args.concurrency
    return asyncio.run(run_dispatcher(settings.replace(**overrides), burst=args.burst))


def _list(args: argparse.Namespace, settings: Settings) -> int:
    selector = None
    if args.job_id or args.host:
        selector = Selector(job_id=args.job_id, host=args.host)
    events = list_parked(settings.amqp_url, selector=selector)
    for event in events[: args.limit]:
        if args.json:
            print(json.dumps(dataclasses.asdict(event)))
        else:
            print(_line(event))
    if not args.json:
        shown = min(len(events), args.limit)
        print(f"{len(events)} parked event(s){f', {shown} shown' if shown < len(events) else ''}")
    return 0


def _line(event: ParkedEvent) -> str:
    status = event.last_status if event.last_status is not None else "-"
    return (f"{event.job_id}  {event.event_type}  {event.webhook_id}  host={event.host}  "
            f"reason={event.reason}  attempts={event.attempt}  last={status} "
            f"{event.last_error[:80]}")


def _inspect(args: argparse.Namespace, settings: Settings) -> int:
    summary = summarize(list_parked(settings.amqp_url))
    if args.json:
        print(json.dumps({
            "count": summary.count,
            "by_host": dict(summary.by_host.most_common(args.top)),
            "by_reason": dict(summary.by_reason.most_common(args.top)),
            "last_errors": dict(summary.last_errors.most_common(args.top)),
        }))
        return 0
    print(f"parked events: {summary.count}")
    for title, counter in (("by host", summary.by_host), ("by reason", summary.by_reason),
                           ("last errors", summary.last_errors)):
        if counter:
            print(f"{title}:")
            for key, count in counter.most_common(args.top):
                print(f"  {count:6d}  {key}")
    return 0


def _redrive(args: argparse.Namespace, settings: Settings) -> int:
    selector = Selector(all=args.all, job_id=args.job_id, host=args.host)
    moved = redrive(settings.amqp_url, selector, limit=args.limit, dry_run=args.dry_run)
    verb = "would redrive" if args.dry_run else "redrove"
    print(f"{verb} {len(moved)} parked event(s) to mtq.results")
    return 0


def _check(args: argparse.Namespace, settings: Settings) -> int:
    try:
        destination = resolve_destination(args.url, NetworkPolicy.from_settings(settings))
    except (UnusableCallback, ResolutionFailed) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    print(f"allowed: {destination.host_header} -> {destination.address}:{destination.port}")
    return 0
