"""The one place a result message is settled: ack, move to the retry ladder, or park.

Moving is always publish-with-confirm first, ack second. If the publish is not confirmed the
original is nacked back to the queue (or, when even that fails, left for the broker to redeliver
after the channel closes): a duplicate is possible, a loss is not. An ack that cannot be sent
because the channel died is logged as "will be redelivered", never raised.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Awaitable, Mapping
from typing import Any, Protocol

import aio_pika
from aio_pika.abc import AbstractChannel
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, DeliveryError, PublishError

from mtq.core.topology import PARKED_QUEUE, retry_queue
from webhooks.events import ResultMessage, deferred_headers, parked_headers, retry_headers
from webhooks.metrics import DispatcherMetrics
from webhooks.policy import Ack, Decision, Park, Retry

log = logging.getLogger(__name__)

_AMQP_FAILURES: tuple[type[BaseException], ...] = (
    DeliveryError, PublishError, asyncio.TimeoutError, *CONNECTION_EXCEPTIONS,
)


class Settleable(Protocol):
    """What settling reads and does: a message from ``mtq.results``, or one event of a batch
    message (``webhooks/batch.py``)."""

    @property
    def body(self) -> bytes: ...
    @property
    def headers(self) -> Mapping[str, Any] | None: ...
    @property
    def content_type(self) -> str | None: ...
    @property
    def content_encoding(self) -> str | None: ...
    @property
    def message_id(self) -> str | None: ...
    @property
    def correlation_id(self) -> str | None: ...
    @property
    def timestamp(self) -> datetime.datetime | None: ...
    @property
    def type(self) -> str | None: ...
    @property
    def app_id(self) -> str | None: ...
    def ack(self) -> Awaitable[None]: ...
    def nack(self, *, requeue: bool = True) -> Awaitable[None]: ...


class Settler:
    def __init__(self, channel: AbstractChannel, metrics: DispatcherMetrics, *,
                 publish_timeout_s: float = 30.0) -> None:
        self._channel = channel
        self._metrics = metrics
        self._publish_timeout_s = publish_timeout_s

    async def settle(self, message: Settleable, event: ResultMessage,
                     decision: Decision, status: int | None, error: str) -> None:
        if isinstance(decision, Ack):
            self._metrics.delivered.inc()
            await self.ack(message, event.job_id)
        elif isinstance(decision, Retry):
            headers = retry_headers(message.headers, decision.attempt, status, error)
            if await self._move(message, retry_queue(decision.delay_s), headers, event.job_id):
                self._metrics.retries_scheduled.labels(delay_s=str(decision.delay_s)).inc()
                log.info("job %s: attempt %d of %s failed (%s); retrying in %ds",
                         event.job_id, decision.attempt, event.webhook_id,
                         status if status is not None else error, decision.delay_s)
        elif isinstance(decision, Park):
            await self.park(message, event.job_id, decision.reason, decision.attempt,
                            status, error)

    async def park(self, message: Settleable, job_id: str, reason: str,
                   attempt: int, status: int | None, error: str) -> None:
        headers = parked_headers(message.headers, reason, attempt, status, error)
        if await self._move(message, PARKED_QUEUE, headers, job_id):
            self._metrics.parked.labels(reason=reason).inc()
            log.warning("job %s: webhook parked after %d attempt(s): %s (last status %s: %s)",
                        job_id, attempt, reason, status, error[:200])

    async def defer(self, message: Settleable, job_id: str, delay_s: int,
                    why: str) -> None:
        """Put an event back on the ladder without spending an attempt (its host is busy)."""
        headers = deferred_headers(message.headers)
        if await self._move(message, retry_queue(delay_s), headers, job_id):
            self._metrics.deferred.inc()
            log.info("job %s: %s; deferred %ds without spending an attempt", job_id, why,
                     delay_s)

    async def _move(self, message: Settleable, queue: str,
                    headers: Mapping[str, Any], job_id: str) -> bool:
        copy = aio_pika.Message(
            body=message.body,
            headers=dict(headers),
            content_type=message.content_type or "application/json",
            content_encoding=message.content_encoding,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            timestamp=message.timestamp,
            type=message.type,
            app_id=message.app_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        try:
            await self._channel.default_exchange.publish(
                copy, routing_key=queue, mandatory=True, timeout=self._publish_timeout_s
            )
        except _AMQP_FAILURES as exc:
            log.warning("job %s: could not move the event to %s (%r); returning it to the "
                        "queue", job_id, queue, exc)
            await self.nack(message, job_id)
            return False
        await self.ack(message, job_id)
        return True

    async def ack(self, message: Settleable, job_id: str) -> None:
        try:
            await message.ack()
        except _AMQP_FAILURES as exc:
            log.warning("job %s: ack not sent (%r); the broker will redeliver it", job_id, exc)

    async def nack(self, message: Settleable, job_id: str) -> None:
        try:
            await message.nack(requeue=True)
        except _AMQP_FAILURES as exc:
            log.warning("job %s: nack not sent (%r); the broker will redeliver it", job_id, exc)
