"""A job message as the worker reads it (aiormq's delivery, unwrapped) on a real broker: its
fields are the publisher's, an ack settles it, a requeue brings it back redelivered."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import aio_pika
import aiormq.abc

from worker.broker.message import Delivery, JobMessage

STAMP = datetime(2026, 12, 2, 10, 30, 0, tzinfo=timezone.utc)


async def _consume(channel: aio_pika.abc.AbstractChannel, queue: str
                   ) -> tuple[asyncio.Queue[JobMessage], str]:
    received: asyncio.Queue[JobMessage] = asyncio.Queue()

    async def on_message(delivered: aiormq.abc.DeliveredMessage) -> None:
        await received.put(JobMessage(delivered))

    raw = await channel.get_underlay_channel()
    ok = await raw.basic_consume(queue, on_message)
    return received, str(ok.consumer_tag)


async def test_fields_ack_and_requeue(amqp_url: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue("mtq.test.job-message", auto_delete=True)
        await channel.default_exchange.publish(
            aio_pika.Message(b'{"job_id": "a"}', message_id="a", timestamp=STAMP,
                             headers={"x-delivery-count": 2}),
            routing_key=queue.name)
        await channel.default_exchange.publish(aio_pika.Message(b"plain"),
                                               routing_key=queue.name)
        received, _tag = await _consume(channel, queue.name)

        first = await asyncio.wait_for(received.get(), 10)
        assert (first.body, first.message_id, first.redelivered) == (b'{"job_id": "a"}', "a",
                                                                     False)
        assert first.timestamp is not None
        assert first.timestamp.replace(tzinfo=timezone.utc) == STAMP
        delivery = Delivery(first, "en-de")
        assert delivery.delivery_count == 2 and delivery.arrival == first.delivery_tag

        second = await asyncio.wait_for(received.get(), 10)
        assert (second.timestamp, second.headers) == (None, {})  # neither was set
        assert Delivery(second, "en-de").delivery_count == 0

        assert await delivery.ack("a") is True
        assert await delivery.ack("a") is False  # settled once only
        assert await Delivery(second, "en-de").requeue("plain") is True
        again = await asyncio.wait_for(received.get(), 10)
        assert (again.body, again.redelivered) == (b"plain", True)
        assert await Delivery(again, "en-de").ack("plain") is True
        await asyncio.sleep(0.2)
        assert received.empty()  # the acked message did not come back
    finally:
        await connection.close()
