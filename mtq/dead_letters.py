"""Inspecting and redriving the dead-letter queues of job queues (``mtq dlq``).

Inspection reads with ``basic_get`` and requeues, so it changes nothing. Redrive publishes
each message back to ``mtq.jobs`` with a confirm and only then acks it in the dead-letter
queue: a crash in between leaves a duplicate, never a loss.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions

from mtq.errors import PublishError
from mtq.topology import JOBS_EXCHANGE, REASON_HEADER, broker_death_reason, dead_letter_queue


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
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        count = channel.queue_declare(queue, passive=True).method.message_count
        summary = DeadLetterSummary(queue=queue, count=count)
        delivery_tags = []
        for _ in range(count):
            method, properties, body = channel.basic_get(queue, auto_ack=False)
            if method is None:
                break
            delivery_tags.append(method.delivery_tag)
            reason = reason_of(properties.headers)
            summary.reasons[reason] += 1
            if len(summary.samples) < show:
                summary.samples.append(f"{properties.message_id or '-'}: {reason}: {body[:120]!r}")
        for tag in delivery_tags:
            channel.basic_nack(tag, requeue=True)
        return summary
    finally:
        connection.close()


def redrive(amqp_url: str, route: str, limit: int = 0) -> int:
    """Move dead-lettered jobs of ``route`` back to ``mtq.jobs``; returns how many."""
    queue = dead_letter_queue(route)
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    moved = 0
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        while limit <= 0 or moved < limit:
            method, properties, body = channel.basic_get(queue, auto_ack=False)
            if method is None:
                break
            headers = dict(properties.headers or {})
            headers["x-mtq-redriven-from"] = reason_of(headers)
            headers.pop(REASON_HEADER, None)
            properties.headers = headers
            try:
                channel.basic_publish(JOBS_EXCHANGE, route, body, properties, mandatory=True)
            except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as exc:
                channel.basic_nack(method.delivery_tag, requeue=True)
                raise PublishError(f"redrive of {properties.message_id} failed: {exc}") from exc
            channel.basic_ack(method.delivery_tag)
            moved += 1
        return moved
    finally:
        connection.close()
