"""Parked events: list, summarize and redrive ``mtq.results.parked`` (blocking pika).

Browsing and moving follow :mod:`mtq.client.side_queues`: looking is harmless; redrive publishes
each selected event to ``mtq.results`` with publisher confirms and only then acks it out of the
parked queue, so a crash in between leaves a duplicate, never a gap.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import pika

from mtq.client.side_queues import Got, SideQueue, side_queue
from mtq.core import result_batch
from mtq.core.headers import (
    ATTEMPT_HEADER,
    CALLBACK_HEADER,
    EVENT_TYPE_HEADER,
    EVENTS_HEADER,
    JOB_ID_HEADER,
    LAST_ERROR_HEADER,
    LAST_STATUS_HEADER,
    REASON_HEADER,
    WEBHOOK_ID_HEADER,
)
from mtq.core.topology import (
    PARKED_QUEUE,
    RESULTS_EXCHANGE,
    RESULTS_ROUTING_KEY,
    broker_death_reason,
)
from webhooks.events import callback_host, header_int, header_text, redrive_headers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParkedEvent:
    job_id: str
    event_type: str
    webhook_id: str
    callback_url: str
    host: str
    reason: str
    attempt: int
    last_status: int | None
    last_error: str

    @classmethod
    def from_headers(cls, headers: dict[str, Any] | None) -> ParkedEvent:
        headers = headers or {}
        return cls(
            job_id=header_text(headers, JOB_ID_HEADER) or "?",
            event_type=header_text(headers, EVENT_TYPE_HEADER),
            webhook_id=header_text(headers, WEBHOOK_ID_HEADER),
            callback_url=header_text(headers, CALLBACK_HEADER),
            host=callback_host(header_text(headers, CALLBACK_HEADER)),
            reason=header_text(headers, REASON_HEADER) or _death_reason(headers),
            attempt=header_int(headers, ATTEMPT_HEADER),
            last_status=header_int(headers, LAST_STATUS_HEADER) or None,
            last_error=header_text(headers, LAST_ERROR_HEADER),
        )


@dataclass
class ParkedSummary:
    count: int = 0
    by_host: Counter[str] = field(default_factory=Counter)
    by_reason: Counter[str] = field(default_factory=Counter)
    last_errors: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Selector:
    """Which parked events a redrive moves; an empty selector matches nothing."""

    all: bool = False
    job_id: str | None = None
    host: str | None = None

    def matches(self, event: ParkedEvent) -> bool:
        if self.all:
            return True
        if self.job_id is None and self.host is None:
            return False
        return ((self.job_id is None or event.job_id == self.job_id)
                and (self.host is None or event.host == self.host.lower()))


def _death_reason(headers: dict[str, Any]) -> str:
    # Parked by the broker (x-delivery-limit), not by the dispatcher: say why from x-death.
    reason = broker_death_reason(headers)
    return f"broker:{reason}" if reason else "unknown"


def _parked(amqp_url: str, *, confirm: bool = False) -> AbstractContextManager[SideQueue]:
    return side_queue(amqp_url, PARKED_QUEUE, name="mtq-webhooks-cli", confirm=confirm)


def _browse(side: SideQueue, limit: int | None = None
            ) -> Iterator[tuple[Got, list[ParkedEvent]]]:
    # Never declared means nothing was ever parked: the dispatcher declares it on first start.
    if side.depth() is None:
        return
    for got in side.browse(limit):
        yield got, _events_of(got.properties.headers or {}, got.body)


def _events_of(headers: dict[str, Any], body: bytes) -> list[ParkedEvent]:
    """The parked events of one message: one, or each event of a batch message (parked whole
    by the broker's delivery limit), with the reason of the message they are in."""
    outer = {key: value for key, value in headers.items() if key != EVENTS_HEADER}
    try:
        parts = result_batch.events(headers, body)
    except result_batch.InvalidBatch:
        return [ParkedEvent.from_headers(outer)]
    return [ParkedEvent.from_headers({**part, **outer}) for part, _ in parts]


def list_parked(amqp_url: str, *, selector: Selector | None = None,
                limit: int | None = None) -> list[ParkedEvent]:
    """Parked events (all, or those ``selector`` matches), leaving them parked."""
    with _parked(amqp_url) as side:
        return [event for _got, events in _browse(side, limit) for event in events
                if selector is None or selector.matches(event)]


def summarize(events: list[ParkedEvent]) -> ParkedSummary:
    summary = ParkedSummary(count=len(events))
    for event in events:
        summary.by_host[event.host or "?"] += 1
        summary.by_reason[event.reason] += 1
        status = f"{event.last_status} " if event.last_status else ""
        summary.last_errors[f"{status}{event.last_error}".strip()[:120] or "-"] += 1
    return summary


def redrive(amqp_url: str, selector: Selector, *, limit: int | None = None,
            dry_run: bool = False) -> list[ParkedEvent]:
    """Move matching parked events back to ``mtq.results`` with their attempt count reset.

    Publish with confirm, then ack: a failure stops the redrive with PublishError and every
    event not yet confirmed stays parked. Reading stops once ``limit`` events matched. A batch
    message parked whole moves whole, all its events, when any of them matches.
    """
    moved: list[ParkedEvent] = []
    if limit is not None and limit <= 0:
        return moved
    with _parked(amqp_url, confirm=True) as side:
        for got, events in _browse(side):
            if not any(selector.matches(event) for event in events):
                continue
            if not dry_run:
                side.move(got, RESULTS_EXCHANGE, RESULTS_ROUTING_KEY,
                          _redrive_properties(got.properties), f"job {events[0].job_id}")
                for event in events:
                    log.info("job %s: redrove parked %s (%s) to %s", event.job_id,
                             event.webhook_id, event.reason, RESULTS_EXCHANGE)
            moved.extend(events)
            if limit is not None and len(moved) >= limit:
                break  # read nothing past the limit
    return moved


def _redrive_properties(props: pika.BasicProperties) -> pika.BasicProperties:
    return pika.BasicProperties(
        content_type=props.content_type or "application/json",
        content_encoding=props.content_encoding,
        message_id=props.message_id,
        correlation_id=props.correlation_id,
        timestamp=props.timestamp,
        type=props.type,
        app_id=props.app_id,
        delivery_mode=pika.DeliveryMode.Persistent,
        headers=redrive_headers(props.headers),
    )
