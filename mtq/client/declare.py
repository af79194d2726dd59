"""Declaring the whole topology in one connection (``mtq topology``)."""

from __future__ import annotations

import logging

import aio_pika

from mtq.client.broker import unreachable
from mtq.client.connect import connect
from mtq.core.broker_urls import parse_urls
from mtq.core.settings import Settings
from mtq.core.topology import (
    declare_control_topology,
    declare_job_topology,
    declare_results_topology,
)

log = logging.getLogger(__name__)


async def declare_all(settings: Settings) -> None:
    try:
        connection, _ = await connect(settings.amqp_url, "mtq-topology")
    except (OSError, aio_pika.exceptions.AMQPError) as exc:
        raise unreachable(settings.amqp_url, exc) from exc
    async with connection:
        channel = await connection.channel()
        group_size = settings.quorum_initial_group_size
        await declare_job_topology(channel, settings.routes, settings.delivery_limit,
                                   group_size=group_size)
        await declare_results_topology(
            channel, settings.webhook_retry_schedule_s, settings.delivery_limit,
            group_size=group_size,
        )
        await declare_control_topology(channel, group_size=group_size)
    nodes = len(parse_urls(settings.amqp_url))
    if 1 < nodes < group_size:
        # RabbitMQ places a new quorum queue on at most as many nodes as the cluster has, and
        # does not add members when nodes join later (docs/reliability.md, quorum queue members).
        log.warning("MTQ_QUORUM_INITIAL_GROUP_SIZE=%d but MTQ_AMQP_URL lists %d nodes: new "
                    "queues get one member per running node; grow them later with "
                    "`rabbitmq-queues grow <node> all`", group_size, nodes)
