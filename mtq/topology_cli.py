"""Declaring the whole topology in one connection (``mtq topology``)."""

from __future__ import annotations

import aio_pika

from mtq.broker import unreachable
from mtq.settings import Settings
from mtq.topology import declare_job_topology, declare_results_topology


async def declare_all(settings: Settings) -> None:
    try:
        connection = await aio_pika.connect(
            settings.amqp_url, client_properties={"connection_name": "mtq-topology"}
        )
    except (OSError, aio_pika.exceptions.AMQPError) as exc:
        raise unreachable(settings.amqp_url, exc) from exc
    async with connection:
        channel = await connection.channel()
        await declare_job_topology(channel, settings.routes, settings.delivery_limit)
        await declare_results_topology(
            channel, settings.webhook_retry_schedule_s, settings.delivery_limit
        )
