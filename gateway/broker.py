"""The gateway's AMQP side: publishing jobs and cancels, and declaring what it consumes.

Jobs are published like ``mtq submit`` does: persistent, with a publisher confirm and
``mandatory``, so a pair no queue serves is known at once (:class:`Unroutable`). A cancel is
the control message of ``mtq.core.control`` on the fanout exchange ``mtq.control``.
"""

from __future__ import annotations

import time

import aio_pika
import aio_pika.exceptions
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue, AbstractRobustConnection

from mtq.core.control import CancelRequest
from mtq.core.topology import (
    CONTROL_EXCHANGE,
    JOBS_EXCHANGE,
    PROGRESS_ROUTING_KEY,
    RESULTS_EXCHANGE,
    RESULTS_ROUTING_KEY,
    interactive_routing_key,
)

# Every event reaches this queue too: the results routing key (final events, and progress
# that was asked for as webhooks) and the progress key (progress nobody asked webhooks for),
# so the dispatcher's own queue and its webhooks are untouched.
FEED_QUEUE = "mtq.results.gateway"
FEED_KEYS = (RESULTS_ROUTING_KEY, PROGRESS_ROUTING_KEY)


class Unroutable(Exception):
    """No queue serves the job's route (the broker returned the mandatory message)."""


class BrokerDown(Exception):
    """The job could not be handed to RabbitMQ now (connection lost, nack); try again."""


async def declare_feed(channel: AbstractChannel) -> AbstractQueue:
    results = await channel.declare_exchange(RESULTS_EXCHANGE, aio_pika.ExchangeType.DIRECT,
                                             durable=True)
    queue = await channel.declare_queue(FEED_QUEUE, durable=True,
                                        arguments={"x-queue-type": "quorum"})
    for key in FEED_KEYS:
        await queue.bind(results, routing_key=key)
    return queue


class Publisher:
    """Jobs and cancels, on one confirming channel of a robust connection."""

    def __init__(self, connection: AbstractRobustConnection) -> None:
        self._connection = connection
        self._jobs: AbstractExchange | None = None
        self._control: AbstractExchange | None = None

    async def start(self) -> None:
        channel = await self._connection.channel(publisher_confirms=True,
                                                 on_return_raises=True)
        self._jobs = await channel.declare_exchange(JOBS_EXCHANGE, aio_pika.ExchangeType.DIRECT,
                                                    durable=True)
        self._control = await channel.declare_exchange(
            CONTROL_EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True)

    async def publish_job(self, body: bytes, job_id: str, route: str, *,
                          interactive: bool) -> None:
        assert self._jobs is not None
        key = interactive_routing_key(route) if interactive else route
        message = aio_pika.Message(
            body, content_type="application/json", message_id=job_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT, timestamp=time.time())
        try:
            await self._jobs.publish(message, routing_key=key, mandatory=True, timeout=10)
        except aio_pika.exceptions.PublishError as exc:
            raise Unroutable(route) from exc
        except (aio_pika.exceptions.DeliveryError, TimeoutError,
                *aio_pika.exceptions.CONNECTION_EXCEPTIONS) as exc:
            raise BrokerDown(str(exc) or type(exc).__name__) from exc

    async def publish_cancel(self, job_id: str, tenant: str) -> None:
        assert self._control is not None
        body = CancelRequest(job_id, tenant).encode()
        message = aio_pika.Message(body, content_type="application/json",
                                   delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        try:
            await self._control.publish(message, routing_key="", timeout=10)
        except (aio_pika.exceptions.DeliveryError, TimeoutError,
                *aio_pika.exceptions.CONNECTION_EXCEPTIONS) as exc:
            raise BrokerDown(str(exc) or type(exc).__name__) from exc
