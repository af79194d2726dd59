"""One broker session of the worker: its connection, channels, consumers and publisher.

``worker/broker/link.py`` opens sessions and replaces them after a loss; this module holds what a
session is, and the one repair done inside a live session: a new publish channel when the
broker nacked a result (RabbitMQ keeps nacking a channel whose first publish to a quorum
queue came while the queue elected a new leader; a new channel is accepted at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractQueue

from mtq.core.errors import error_text
from worker.batching.fairness import Lane
from worker.broker.publisher import ResultPublisher

log = logging.getLogger(__name__)

LaneQueue = tuple[str, Lane]  # (route, lane)
CLOSE_TIMEOUT_S = 5.0


class NotConnected(ConnectionError):
    """The broker link is down and did not come back within the wait."""


@dataclass
class Session:
    connection: AbstractConnection
    consume_channel: AbstractChannel
    publisher: ResultPublisher
    queues: dict[LaneQueue, AbstractQueue]
    lost: asyncio.Event
    mark_lost: Callable[..., None]
    tags: dict[LaneQueue, str] = field(default_factory=dict)
    renewing: bool = False

    @property
    def alive(self) -> bool:
        return not self.lost.is_set()


async def open_publish_channel(
    connection: AbstractConnection, mark_lost: Callable[..., None]
) -> AbstractChannel:
    """A confirming channel whose loss ends the session."""
    channel: AbstractChannel = await connection.channel(
        publisher_confirms=True, on_return_raises=True
    )
    channel.close_callbacks.add(mark_lost)
    return channel


async def renew_publisher(session: Session) -> None:
    """Give ``session`` a new publish channel; the consume channel and its deliveries stay."""
    try:
        channel = await open_publish_channel(session.connection, session.mark_lost)
        publisher = session.publisher.like(channel)
        await publisher.open()
        old, session.publisher = session.publisher, publisher
        old.channel.close_callbacks.discard(session.mark_lost)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(old.channel.close(), CLOSE_TIMEOUT_S)
    except Exception as exc:  # no new channel: a new session, then
        log.warning("could not open a new publish channel (%s); reconnecting", error_text(exc))
        session.mark_lost()
    finally:
        session.renewing = False
