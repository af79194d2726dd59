"""The worker's result publisher on a real broker (it publishes through aiormq directly): a
confirmed result is in ``mtq.results``, an unroutable one is an error, never a success."""

from __future__ import annotations

import json

import aio_pika
import pytest
from aio_pika.exceptions import PublishError

from mtq.contract import DecodeOptions, Job
from mtq.events import CompletedEvent, JobStats, ModelInfo
from mtq.topology import (
    DEAD_LETTER_EXCHANGE,
    RESULTS_EXCHANGE,
    RESULTS_QUEUE,
    declare_results_topology,
)
from worker.results import DELIVERY_COUNT_HEADER, ResultPublisher

JOB = Job("job-1", "en", "de", ("Hello",), "https://hooks.example/mt", DecodeOptions(2, 8))
EVENT = CompletedEvent(JOB, ("Hallo",), ModelInfo("tiny", "r1", "hf", "float32"),
                       JobStats(segments=1, queue_ms=1, compute_ms=1))


async def _publisher(connection: aio_pika.abc.AbstractConnection) -> ResultPublisher:
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    publisher = ResultPublisher(channel)
    await publisher.open()
    return publisher


async def test_a_confirmed_result_is_in_the_results_queue(amqp_url: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        setup = await connection.channel()
        await declare_results_topology(setup, (1, 2), delivery_limit=5)
        publisher = await _publisher(connection)
        hook_id = await publisher.publish_event(EVENT, JOB.callback_url, delivery_count=2)
        queue = await setup.get_queue(RESULTS_QUEUE)
        message = await queue.get(timeout=10)
        assert message is not None
        await message.ack()
        assert message.message_id == hook_id
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert (message.headers or {})[DELIVERY_COUNT_HEADER] == 2
        assert json.loads(message.body)["job_id"] == "job-1"


async def test_an_unroutable_result_raises_and_is_never_reported_published(
    amqp_url: str
) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        setup = await connection.channel()
        # The exchange exists, but no queue is bound to it: the broker returns the message.
        await setup.declare_exchange(RESULTS_EXCHANGE, aio_pika.ExchangeType.DIRECT,
                                     durable=True)
        await setup.declare_exchange(DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.DIRECT,
                                     durable=True)
        publisher = await _publisher(connection)
        with pytest.raises(PublishError):
            await publisher.publish_event(EVENT, JOB.callback_url)
