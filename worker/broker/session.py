"""One broker session of the worker: its connection, channels, consumers and publisher.

``worker/broker/link.py`` connects and replaces sessions after a loss; this module holds what a
session is, how one is opened on a new connection (topology declared, channels, queues), and
the one repair done inside a live session: a new publish channel when the broker nacked a
result (RabbitMQ keeps nacking a channel whose first publish to a quorum queue came while the
queue elected a new leader; a new channel is accepted at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractQueue

from mtq.core.errors import error_text
from mtq.core.settings import Settings
from mtq.core.topology import (
    declare_job_topology,
    declare_results_topology,
    interactive_queue,
    job_queue,
)
from worker.batching.fairness import Lane
from worker.broker.consumers import Callback, Consumers, LaneQueue, Subscription
from worker.broker.control import ControlHandler, open_control
from worker.broker.publisher import ResultPublisher

log = logging.getLogger(__name__)

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
    consumers: Consumers
    control: AbstractChannel | None = None  # control messages (broker/control.py)
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


async def open_session(
    connection: AbstractConnection, settings: Settings, lost: asyncio.Event,
    mark_lost: Callable[..., None], *, on_nack: Callable[[], None],
    on_confirmed: Callable[[int], None],
    callback: Callable[[LaneQueue, Subscription], Callback],
    on_retired: Callable[[LaneQueue], None], on_control: ControlHandler | None = None,
) -> Session:
    """Declare the topology and open the channels of a session on ``connection``; whatever
    closes (connection, either channel, a consumer cancelled by the broker) calls
    ``mark_lost``. No consumer yet: the link subscribes them."""
    publish_channel = await open_publish_channel(connection, mark_lost)
    await declare_results_topology(
        publish_channel, settings.webhook_retry_schedule_s, settings.delivery_limit,
        group_size=settings.quorum_initial_group_size,
    )
    await declare_job_topology(publish_channel, settings.routes, settings.delivery_limit,
                               group_size=settings.quorum_initial_group_size)
    # Cancels waiting for this worker are taken before any job (broker/control.py).
    control = (await open_control(connection, on_control, mark_lost,
                                  group_size=settings.quorum_initial_group_size)
               if on_control is not None else None)
    publisher = ResultPublisher(publish_channel, on_nack=on_nack,
                                per_message=settings.results_per_message,
                                on_confirmed=on_confirmed)
    await publisher.open()
    consume_channel = await connection.channel()
    consume_channel.close_callbacks.add(mark_lost)
    underlay = await consume_channel.get_underlay_channel()

    async def cancelled_by_broker(frame: object) -> None:
        # The queue was deleted or moved: a new session re-declares and re-consumes.
        log.warning("the broker cancelled a consumer (%s); reconnecting", frame)
        mark_lost()

    underlay.on_consumer_cancel_callbacks.add(cancelled_by_broker)
    queues: dict[LaneQueue, AbstractQueue] = {}
    for route in settings.routes:
        queues[(route, Lane.BULK)] = await consume_channel.get_queue(job_queue(route))
        queues[(route, Lane.INTERACTIVE)] = await consume_channel.get_queue(
            interactive_queue(route)
        )
    # Through aiormq, not aio-pika's Queue.consume: see broker/message.py, JobMessage.
    consumers = Consumers(underlay, {key: queue.name for key, queue in queues.items()},
                          callback, on_retired)
    return Session(connection, consume_channel, publisher, queues, lost, mark_lost, consumers,
                   control)
