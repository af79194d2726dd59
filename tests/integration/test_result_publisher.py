"""The worker's result publisher on a real broker (it publishes through aiormq directly): a
confirmed result is in ``mtq.results``, an unroutable one is an error, never a success."""

from __future__ import annotations

import asyncio
import json

import aio_pika
import pytest
from aio_pika.exceptions import PublishError

from mtq.core import result_batch
from mtq.core.contract import DecodeOptions, Job
from mtq.core.events import CompletedEvent, JobStats, ModelInfo
from mtq.core.headers import DELIVERY_COUNT_HEADER
from mtq.core.topology import (
    DEAD_LETTER_EXCHANGE,
    RESULTS_EXCHANGE,
    RESULTS_QUEUE,
    declare_results_topology,
)
from worker.broker.publisher import ResultPublisher

JOB = Job("job-1", "en", "de", ("Hello",), "https://hooks.example/mt", DecodeOptions(2, 8))
EVENT = CompletedEvent(JOB, ("Hallo",), ModelInfo("tiny", "r1", "hf", "float32"),
                       JobStats(segments=1, queue_ms=1, compute_ms=1), (0.5,))


def _event(job_id: str) -> CompletedEvent:
    job = Job(job_id, "en", "de", ("Hello",), "https://hooks.example/mt", DecodeOptions(2, 8))
    return CompletedEvent(job, ("Hallo",), ModelInfo("tiny", "r1", "hf", "float32"),
                          JobStats(segments=1, queue_ms=1, compute_ms=1), (0.5,))


async def _publisher(connection: aio_pika.abc.AbstractConnection,
                     per_message: int = 1) -> ResultPublisher:
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    publisher = ResultPublisher(channel, per_message=per_message)
    await publisher.open()
    return publisher


async def _exchanges_without_queues(channel: aio_pika.abc.AbstractChannel) -> None:
    """The exchanges exist, but no queue is bound to them: the broker returns what is sent."""
    for name in (RESULTS_EXCHANGE, DEAD_LETTER_EXCHANGE):
        await channel.declare_exchange(name, aio_pika.ExchangeType.DIRECT, durable=True)


async def _take_all(channel: aio_pika.abc.AbstractChannel
                    ) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Every message in mtq.results, acked, in queue order."""
    queue = await channel.get_queue(RESULTS_QUEUE)
    messages = []
    while (message := await queue.get(timeout=10, fail=False)) is not None:
        await message.ack()
        messages.append(message)
    return messages


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
        await _exchanges_without_queues(await connection.channel())
        publisher = await _publisher(connection)
        with pytest.raises(PublishError):
            await publisher.publish_event(EVENT, JOB.callback_url)


async def test_events_of_one_loop_turn_share_messages_of_at_most_per_message_events(
    amqp_url: str
) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        setup = await connection.channel()
        await declare_results_topology(setup, (1, 2), delivery_limit=5)
        publisher = await _publisher(connection, per_message=2)
        events = [_event(f"job-{n}") for n in range(5)]
        hook_ids = await asyncio.gather(*(
            publisher.publish_event(event, "https://hooks.example/mt", delivery_count=n)
            for n, event in enumerate(events)
        ))
        messages = await _take_all(setup)
    # 2 + 2 + 1: the last one alone travels as a single-event message, as in v1.
    assert [result_batch.is_batch(m.headers) for m in messages] == [True, True, False]
    parts = [part for m in messages for part in result_batch.events(m.headers, m.body)]
    assert [json.loads(body)["job_id"] for _, body in parts] == [f"job-{n}" for n in range(5)]
    assert [headers[DELIVERY_COUNT_HEADER] for headers, _ in parts] == list(range(5))
    assert messages[2].message_id == hook_ids[4]
    assert all(m.delivery_mode == aio_pika.DeliveryMode.PERSISTENT for m in messages)


async def test_an_unroutable_batch_fails_every_event_in_it(amqp_url: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        await _exchanges_without_queues(await connection.channel())
        publisher = await _publisher(connection, per_message=8)
        outcomes = await asyncio.gather(
            *(publisher.publish_event(_event(f"job-{n}"), "https://hooks.example/mt")
              for n in range(3)),
            return_exceptions=True,
        )
    assert [type(outcome) for outcome in outcomes] == [PublishError] * 3


async def test_long_callback_urls_split_a_batch_before_its_headers_outgrow_a_frame(
    amqp_url: str
) -> None:
    # 64 callbacks of 2,040 characters: about 140 KiB of headers in one message, more than
    # RabbitMQ's 128 KiB frame, which must hold all of a message's headers.
    url = "https://hooks.example/" + "a" * 2018
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        setup = await connection.channel()
        await declare_results_topology(setup, (1, 2), delivery_limit=5)
        publisher = await _publisher(connection, per_message=64)
        await asyncio.gather(*(publisher.publish_event(_event(f"job-{n}"), url)
                               for n in range(64)))
        messages = await _take_all(setup)
    assert len(messages) > 1
    parts = [part for m in messages for part in result_batch.events(m.headers, m.body)]
    assert sorted(json.loads(body)["job_id"] for _, body in parts) == sorted(
        f"job-{n}" for n in range(64))
