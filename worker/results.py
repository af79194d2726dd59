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

from mtq.contract import encode_event
from mtq.topology import (
    DEAD_LETTER_EXCHANGE,
    REASON_HEADER,
    RESULTS_EXCHANGE,
    RESULTS_ROUTING_KEY,
    dead_letter_queue,
)
from webhooks.events import WEBHOOK_ID_HEADER, result_headers

log = logging.getLogger(__name__)


class ResultPublisher:
    def __init__(self, channel: AbstractChannel) -> None:
        self._channel = channel
        self._results: AbstractExchange | None = None
        self._dead: AbstractExchange | None = None

    async def open(self) -> None:
        self._results = await self._channel.get_exchange(RESULTS_EXCHANGE)
        self._dead = await self._channel.get_exchange(DEAD_LETTER_EXCHANGE)

    async def publish_event(self, event: dict[str, Any], callback_url: str) -> str:
        """Publish one ``job.*`` event for the dispatcher; returns its webhook id."""
        assert self._results is not None, "open() first"
        # The header names are the dispatcher's contract, so they come from its module.
        headers = result_headers(str(event["job_id"]), str(event["type"]), callback_url)
        hook_id = str(headers[WEBHOOK_ID_HEADER])
        message = aio_pika.Message(
            body=encode_event(event),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=hook_id,
            timestamp=time.time(),
            headers=headers,
        )
        await self._results.publish(message, routing_key=RESULTS_ROUTING_KEY, mandatory=True)
        return hook_id

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
