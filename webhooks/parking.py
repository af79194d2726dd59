"""Parked events: list, summarize and redrive ``mtq.results.parked`` (blocking pika).

Reading uses ``basic_get`` without ack and returns everything at the end, so looking is
harmless. Redrive publishes each selected event to ``mtq.results`` with publisher confirms and
only then acks it out of the parked queue: a crash in between leaves a duplicate, never a gap.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from mtq.errors import PublishError, TransientError
from mtq.events import CALLBACK_HEADER, EVENT_TYPE_HEADER, JOB_ID_HEADER, WEBHOOK_ID_HEADER
from mtq.topology import (
    PARKED_QUEUE,
    REASON_HEADER,
    RESULTS_EXCHANGE,
    RESULTS_ROUTING_KEY,
    broker_death_reason,
)
from webhooks.events import (
    ATTEMPT_HEADER,
    LAST_ERROR_HEADER,
    LAST_STATUS_HEADER,
    callback_host,
    header_int,
    header_text,
    redrive_headers,
)

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


@contextmanager
def _channel(amqp_url: str) -> Iterator[BlockingChannel]:
    params = pika.URLParameters(amqp_url)
    params.client_properties = {"connection_name": "mtq-webhooks-cli"}
    try:
        connection = pika.BlockingConnection(params)
    except pika.exceptions.AMQPConnectionError as exc:
        raise TransientError(f"cannot connect to RabbitMQ: {exc!r}") from exc
    try:
        yield connection.channel()
    finally:
        if connection.is_open:
            connection.close()  # returns every message we read but did not ack


def _walk(channel: BlockingChannel,
          visit: Callable[[int, pika.BasicProperties, bytes, ParkedEvent], None],
          limit: int | None) -> int:
    """Get parked messages one by one (unacked, so each is seen once) and ``visit`` them."""
    try:
        channel.queue_declare(PARKED_QUEUE, passive=True)
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code == 404:
            return 0  # nothing was ever parked: the dispatcher declares it on first start
        raise
    seen = 0
    while limit is None or seen < limit:
        method, properties, body = channel.basic_get(PARKED_QUEUE, auto_ack=False)
        if method is None:
            break
        seen += 1
        visit(method.delivery_tag, properties, body, ParkedEvent.from_headers(properties.headers))
    return seen


def list_parked(amqp_url: str, *, selector: Selector | None = None,
                limit: int | None = None) -> list[ParkedEvent]:
    """Parked events (all, or those ``selector`` matches), leaving them parked."""
    found: list[ParkedEvent] = []

    def visit(_tag: int, _props: pika.BasicProperties, _body: bytes, event: ParkedEvent) -> None:
        if selector is None or selector.matches(event):
            found.append(event)

    with _channel(amqp_url) as channel:
        _walk(channel, visit, limit)
    return found


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
    event not yet confirmed stays parked.
    """
    moved: list[ParkedEvent] = []
    with _channel(amqp_url) as channel:
        channel.confirm_delivery()

        def visit(tag: int, props: pika.BasicProperties, body: bytes,
                  event: ParkedEvent) -> None:
            if not selector.matches(event) or (limit is not None and len(moved) >= limit):
                return
            if not dry_run:
                _republish(channel, props, body, event)
                channel.basic_ack(tag)
                log.info("job %s: redrove parked %s (%s) to %s", event.job_id,
                         event.webhook_id, event.reason, RESULTS_EXCHANGE)
            moved.append(event)

        _walk(channel, visit, None)
    return moved


def _republish(channel: BlockingChannel, props: pika.BasicProperties, body: bytes,
               event: ParkedEvent) -> None:
    properties = pika.BasicProperties(
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
    try:
        channel.basic_publish(RESULTS_EXCHANGE, RESULTS_ROUTING_KEY, body, properties,
                              mandatory=True)
    except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as exc:
        raise PublishError(
            f"job {event.job_id}: redrive not confirmed ({exc!r}); it stays parked"
        ) from exc
