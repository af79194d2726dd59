"""Publishing what the worker produces: result events and dead letters, always confirmed.

A job is acked only after this module's publish returned, which means the broker confirmed
the message into a durable queue. Publishes use ``mandatory`` on a channel that raises on
returns, so an unroutable result is an error, never silently dropped.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange

from mtq.events import ResultEvent, encode_result
from mtq.topology import (
    DEAD_LETTER_EXCHANGE,
    REASON_HEADER,
    RESULTS_EXCHANGE,
    RESULTS_ROUTING_KEY,
    dead_letter_queue,
)

log = logging.getLogger(__name__)

# The x-delivery-count of the job when its result was published: tests and operators read how
# often a job was delivered before it was answered from the result itself.
DELIVERY_COUNT_HEADER = "x-mtq-delivery-count"


class ResultPublisher:
    def __init__(self, channel: AbstractChannel) -> None:
        self._channel = channel
        self._results: AbstractExchange | None = None
        self._dead: AbstractExchange | None = None

    async def open(self) -> None:
        self._results = await self._channel.get_exchange(RESULTS_EXCHANGE)
        self._dead = await self._channel.get_exchange(DEAD_LETTER_EXCHANGE)

    async def publish_event(
        self, event: ResultEvent, callback_url: str, delivery_count: int = 0
    ) -> str:
        """Publish one ``job.*`` event for the dispatcher; returns its webhook id."""
        assert self._results is not None, "open() first"
        outgoing = encode_result(event, callback_url)  # the contract lives in mtq/events.py
        message = aio_pika.Message(
            body=outgoing.body,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=outgoing.webhook_id,
            timestamp=time.time(),
            headers={**outgoing.headers, DELIVERY_COUNT_HEADER: delivery_count},
        )
        await self._results.publish(message, routing_key=RESULTS_ROUTING_KEY, mandatory=True)
        return outgoing.webhook_id

    async def dead_letter(
        self, body: bytes, headers: dict[str, Any], route: str, reason: str,
        message_id: str | None = None,
    ) -> None:
        """Move a message that is not a job to its route's dead-letter queue, with the reason."""
        assert self._dead is not None, "open() first"
        message = aio_pika.Message(
            body=body,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
            headers={**headers, REASON_HEADER: reason, "x-mtq-route": route},
        )
        await self._dead.publish(message, routing_key=dead_letter_queue(route), mandatory=True)
