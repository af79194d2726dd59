"""Inspecting and redriving the dead-letter queues of job queues (``mtq dlq``).

Browsing and moving follow :mod:`mtq.client.side_queues`: listing changes nothing; redrive publishes
each message back to ``mtq.jobs`` with a confirm and only then acks it in the dead-letter
queue, so a crash in between leaves a duplicate, never a loss.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mtq.client.side_queues import side_queue
from mtq.core.headers import REASON_HEADER, REDRIVEN_FROM_HEADER
from mtq.core.topology import JOBS_EXCHANGE, broker_death_reason, dead_letter_queue


@dataclass
class DeadLetterSummary:
    queue: str
    count: int
    reasons: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)


def reason_of(headers: dict[str, Any] | None) -> str:
    """Why a message was dead-lettered: mtq's own header, else the broker's ``x-death``."""
    headers = headers or {}
    if REASON_HEADER in headers:
        return str(headers[REASON_HEADER])
    return broker_death_reason(headers) or "unknown"


def summarize(amqp_url: str, route: str, show: int = 0) -> DeadLetterSummary:
    queue = dead_letter_queue(route)
    with side_queue(amqp_url, queue, name="mtq-dlq") as side:
        count = side.depth()
        summary = DeadLetterSummary(queue=queue, count=count or 0)
        if not count:
            return summary
        for got in side.browse(limit=count):
            reason = reason_of(got.properties.headers)
            summary.reasons[reason] += 1
            if len(summary.samples) < show:
                message_id = got.properties.message_id or "-"
                summary.samples.append(f"{message_id}: {reason}: {got.body[:120]!r}")
        return summary  # closing the channel returns every browsed message


def redrive(amqp_url: str, route: str, limit: int = 0) -> int:
    """Move dead-lettered jobs of ``route`` back to ``mtq.jobs``; returns how many."""
    queue = dead_letter_queue(route)
    moved = 0
    with side_queue(amqp_url, queue, name="mtq-dlq", confirm=True) as side:
        if side.depth() is None:
            return 0
        for got in side.browse(limit=limit if limit > 0 else None):
            properties = got.properties
            headers = dict(properties.headers or {})
            headers[REDRIVEN_FROM_HEADER] = reason_of(headers)
            headers.pop(REASON_HEADER, None)
            properties.headers = headers
            side.move(got, JOBS_EXCHANGE, route, properties,
                      f"dead letter {properties.message_id}")
            moved += 1
    return moved
