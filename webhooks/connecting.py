"""The dispatcher's connection: waited for at start, then its channel and ``mtq.results``.

A dispatcher that starts while RabbitMQ is down keeps trying for ``MTQ_BROKER_WAIT_S``
(``mtq/client/broker_wait.py``: alive, not ready, one log line per attempt) instead of exiting;
after that it stops with one line. Once connected, aio-pika's robust connection (moved between
nodes by ``mtq/client/connect.py``) takes care of later losses.
"""

from __future__ import annotations

import asyncio

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractQueue, AbstractRobustConnection

from mtq.client.broker_wait import wait_for_broker
from mtq.client.connect import connect_robust
from mtq.core.errors import ConfigError
from mtq.core.settings import Settings
from mtq.core.topology import RESULTS_QUEUE, declare_results_topology


async def wait_for_connection(settings: Settings, name: str,
                              stop: asyncio.Event) -> AbstractRobustConnection | None:
    """The robust connection, waited for; ``None`` when ``stop`` was set meanwhile."""
    return await wait_for_broker(
        lambda: connect_robust(settings.amqp_url, name), amqp_url=settings.amqp_url,
        wait_s=settings.broker_wait_s, max_delay_s=settings.reconnect_max_delay_s, stop=stop,
    )


async def open_results_queue(connection: AbstractRobustConnection, settings: Settings,
                             schedule: tuple[int, ...]) -> tuple[AbstractChannel, AbstractQueue]:
    """A confirming channel with the dispatcher's prefetch, and ``mtq.results`` declared."""
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    await channel.set_qos(prefetch_count=settings.dispatcher_prefetch)
    try:
        queue = await declare_results_topology(
            channel, schedule, settings.delivery_limit,
            group_size=settings.quorum_initial_group_size,
        )
    except aio_pika.exceptions.ChannelPreconditionFailed as exc:
        raise ConfigError(
            f"{RESULTS_QUEUE} exists with other arguments than these settings declare "
            f"(MTQ_DELIVERY_LIMIT, MTQ_QUORUM_INITIAL_GROUP_SIZE?); change a live queue "
            f"with a policy: {exc}"
        ) from exc
    return channel, queue
