"""A received job message, settled exactly once (ack or requeue), never raising.

Settling can fail when the channel the message came on has died (connection loss, broker
restart, consumer timeout): the broker has then already requeued the message and will
redeliver it, so that failure is logged and reported as ``False``, never raised. A delivery
belongs to the channel it arrived on; the worker never reopens that channel (see
``worker/broker/link.py``), so a late ack can never reach a newer channel where its delivery tag
would name another message. Only the settler (``worker/lifecycle/settler.py``) calls ack and
requeue.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

import aiormq.abc
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError

from worker.batching.fairness import Lane

log = logging.getLogger(__name__)

_SETTLE_FAILURES: tuple[type[BaseException], ...] = (
    AMQPError, ChannelInvalidStateError, ConnectionError, RuntimeError,
)


class Settling(Protocol):
    """The consumer a message came from (``worker/broker/consumers.py``, Subscription)."""

    async def settling(self, *, hold: bool) -> None:
        """Return once a settle may be sent (a consumer being cancelled: after the cancel)."""


class JobMessage:
    """What the worker reads of a delivered job message, straight from aiormq's delivery.

    The worker consumes through aiormq (``worker/broker/link.py``): aio-pika's
    ``IncomingMessage``, built per message with a guarded ``__setattr__`` for every field, and
    the second task aio-pika runs each callback in, were about 7% of the worker's loop per
    one-segment job (docs/performance.md).
    """

    __slots__ = ("body", "channel", "consumer", "delivery_tag", "headers", "message_id",
                 "redelivered", "timestamp")

    def __init__(self, delivered: aiormq.abc.DeliveredMessage,
                 consumer: Settling | None = None) -> None:
        properties = delivered.header.properties
        self.consumer = consumer
        self.body: bytes = delivered.body
        self.channel: aiormq.abc.AbstractChannel = delivered.channel
        self.delivery_tag: int | None = delivered.delivery_tag
        self.redelivered: bool | None = delivered.redelivered
        self.headers: dict[str, Any] = properties.headers or {}
        self.message_id: str | None = properties.message_id
        stamp = properties.timestamp
        self.timestamp: datetime | None = stamp if isinstance(stamp, datetime) else None


def delivery_count(headers: Mapping[str, Any] | None) -> int:
    """Quorum queues' ``x-delivery-count``: how often the message was returned before."""
    value = (headers or {}).get("x-delivery-count", 0)
    return value if isinstance(value, int) else 0


class Delivery:
    """A received job message that must be settled exactly once."""

    def __init__(self, message: JobMessage, route: str, lane: Lane = Lane.BULK) -> None:
        self.message = message
        self.route = route
        self.lane = lane
        self.settled = False
        self.fingerprint = hashlib.sha256(message.body).hexdigest()

    @property
    def label(self) -> str:
        """How logs name the message before it is parsed."""
        return self.message.message_id or "?"

    @property
    def redelivered(self) -> bool:
        return bool(self.message.redelivered)

    @property
    def delivery_count(self) -> int:
        """How often the broker delivered this before (quorum queues' ``x-delivery-count``)."""
        return delivery_count(self.message.headers)

    @property
    def arrival(self) -> int:
        """Order of arrival on its channel (the delivery tag)."""
        return int(self.message.delivery_tag or 0)

    async def ack(self, job: str) -> bool:
        """Ack; ``False`` when the channel is gone (the broker redelivers the message)."""
        return await self._settle(job, "ack")

    async def requeue(self, job: str) -> bool:
        """Give the message back now (counts as a delivery in ``x-delivery-count``)."""
        return await self._settle(job, "requeue")

    async def _settle(self, job: str, how: str) -> bool:
        if self.settled:
            return False
        self.settled = True
        channel, tag = self.message.channel, self.message.delivery_tag or 0
        consumer = self.message.consumer
        try:
            if consumer is not None:  # nothing awaited between this and the frame going out
                await consumer.settling(hold=how == "ack")
            if how == "ack":
                # Without waiting for the socket to drain: aio-pika's ack waits, and that round
                # trip through the writer task was the dearest part of an ack. An ack is never
                # confirmed by the broker either way.
                await channel.basic_ack(delivery_tag=tag, wait=False)
            else:
                await channel.basic_nack(delivery_tag=tag, requeue=True)
        except _SETTLE_FAILURES as exc:
            log.warning(
                "job %s: could not %s (%s); the broker will redeliver it", job, how,
                type(exc).__name__ if not str(exc) else exc,
            )
            return False
        return True
