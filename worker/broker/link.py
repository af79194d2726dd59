"""The worker's link to RabbitMQ: connect, declare, consume, and reconnect after any loss.

aio-pika's robust connection is deliberately not used. After a broker restart it can fail to
restore consumers, and it reopens channels underneath messages that were delivered on the old
ones, so a late ack could land on a new channel where its delivery tag means another message.
Here every connection is a fresh *session*: its own channels, consumers and publisher. When
the connection or either channel closes (connection drop, broker restart, consumer timeout) or
the broker cancels a consumer, the session is over: the link tells the worker (``on_lost``)
and opens a new session with jittered exponential backoff until it succeeds. Deliveries of a
dead session stay bound to its dead channel, so settling them fails cleanly
(``worker/lifecycle/settler.py``) and the broker redelivers them.

Consuming can be paused and resumed (``set_consuming``): the worker pauses intake while it runs
a redelivered job alone, and stops it for good when draining. The wish survives reconnects.

Each route has two lanes, bulk and interactive (``mtq.jobs.<route>.interactive``), each with
its own prefetch. :meth:`BrokerLink.resize` changes a lane's window with a new consumer per
queue while the old one retires, cancelled only once nothing can be on its way to it
(``worker/broker/consumers.py``): a window change never returns a job to the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiormq.abc
from aio_pika.exceptions import ChannelPreconditionFailed

from mtq.client.broker_wait import Backoff, wait_for_broker
from mtq.client.connect import connect
from mtq.core.errors import ConfigError, error_text
from mtq.core.settings import Settings
from worker.batching.fairness import Lane
from worker.broker.consumers import LaneQueue, Subscription
from worker.broker.control import ControlHandler
from worker.broker.message import JobMessage, delivery_count
from worker.broker.publisher import ResultPublisher
from worker.broker.session import (
    CLOSE_TIMEOUT_S,
    NotConnected,
    Session,
    open_session,
    renew_publisher,
)

log = logging.getLogger(__name__)

MessageHandler = Callable[[JobMessage, str, Lane], Awaitable[None]]
CONNECT_TIMEOUT_S = 15.0


class BrokerLink:
    """One connection at a time, re-established until :meth:`close`."""

    def __init__(
        self, settings: Settings, on_message: MessageHandler, on_lost: Callable[[], None],
        *, on_results_message: Callable[[int], None] = lambda events: None,
        on_redelivered: Callable[[], None] = lambda: None,
        on_control: ControlHandler | None = None,
    ) -> None:
        self._settings = settings
        self._on_results_message = on_results_message
        self._on_redelivered = on_redelivered  # a message arrived with x-delivery-count > 0
        self._on_message = on_message
        self._on_control = on_control  # control messages (broker/control.py)
        self._on_lost = on_lost
        self._session: Session | None = None
        self._up = asyncio.Event()
        self._closed = False
        self._want_consuming = True
        self._consume_lock = asyncio.Lock()
        self.prefetch = {Lane.BULK: settings.prefetch,
                         Lane.INTERACTIVE: settings.interactive_prefetch}
        self.sessions = 0  # how many sessions were opened (1 + reconnects)
        self._renewals: set[asyncio.Task[None]] = set()
        self.name = f"mtq-worker@{socket.gethostname()}:{os.getpid()}"
        self.node: str | None = None  # URL of the node of the last session (MTQ_AMQP_URL)

    # -- state -------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        session = self._session
        return session is not None and session.alive and self._up.is_set()

    @property
    def consuming(self) -> bool:
        session = self._session
        return session is not None and session.alive and bool(session.consumers.active)

    async def publisher(self, timeout: float) -> ResultPublisher:
        """The live session's publisher, waiting up to ``timeout`` for a reconnect."""
        if not self._up.is_set():  # wait_for costs a task: only when there is a wait
            try:
                await asyncio.wait_for(self._up.wait(), timeout=max(timeout, 0.001))
            except asyncio.TimeoutError as exc:
                raise NotConnected(f"no broker connection within {timeout:.0f}s") from exc
        session = self._session
        if session is None or not session.alive:
            raise NotConnected("the broker connection was just lost")
        return session.publisher

    def _on_publish_nack(self) -> None:
        self.renew_publisher("the broker nacked a publish")

    def renew_publisher(self, reason: str) -> None:
        """Replace the live session's publish channel (``worker/broker/session.py``). Not the whole
        session: that would requeue every job held, spending a delivery of each, and a full
        results queue (which nacks too) would walk them to their delivery limit."""
        session = self._session
        if session is None or not session.alive or session.renewing:
            return
        session.renewing = True
        log.warning("%s; opening a new publish channel", reason)
        task = asyncio.ensure_future(renew_publisher(session))
        self._renewals.add(task)
        task.add_done_callback(self._renewals.discard)

    async def queue_depths(self) -> list[int]:
        """Ready messages per job queue, both lanes (raises while disconnected)."""
        session = self._session
        if session is None or not session.alive:
            raise NotConnected("not connected")
        depths = []
        for queue in session.queues.values():
            declared = await queue.declare(timeout=10)
            depths.append(declared.message_count or 0)
        return depths

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self, stop: asyncio.Event | None = None) -> bool:
        """The first session. A broker that is down is waited for, up to ``MTQ_BROKER_WAIT_S``
        (``mtq/client/broker_wait.py``), then BrokerUnreachable; ``False`` when ``stop`` is
        set meanwhile. A topology the broker refuses is a ConfigError at once."""
        settings = self._settings
        try:
            session = await wait_for_broker(
                self._connect, amqp_url=settings.amqp_url, wait_s=settings.broker_wait_s,
                max_delay_s=settings.reconnect_max_delay_s, stop=stop,
                fatal=(ChannelPreconditionFailed,),
            )
        except ChannelPreconditionFailed as exc:
            raise ConfigError(
                f"the broker refused this worker's queue declarations (MTQ_DELIVERY_LIMIT, "
                f"MTQ_QUORUM_INITIAL_GROUP_SIZE differ from the live queues?): {exc}"
            ) from exc
        self._session = session
        return session is not None

    async def run(self) -> None:
        """Keep a session open until :meth:`close`: wait for a loss, report it, reconnect."""
        backoff = Backoff(self._settings.reconnect_max_delay_s)
        while not self._closed:
            session = self._session
            if session is None:
                try:
                    self._session = await self._connect()
                except Exception as exc:  # any failure means "try again later"
                    wait = backoff.next()
                    log.warning("broker unreachable (%s); retrying in %.1fs",
                                error_text(exc), wait)
                    await asyncio.sleep(wait)
                    continue
                backoff.reset()
                log.info("reconnected to the broker (session %d)", self.sessions)
                continue
            await session.lost.wait()
            if self._closed:
                return
            self._session = None
            self._up.clear()
            log.warning("broker connection lost; unsettled deliveries will be redelivered")
            self._on_lost()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(session.connection.close(), CLOSE_TIMEOUT_S)

    async def close(self) -> None:
        self._closed = True
        self._up.clear()
        session, self._session = self._session, None
        if session is not None:
            session.lost.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(session.connection.close(), CLOSE_TIMEOUT_S)

    async def resize(self, lane: Lane, prefetch: int) -> None:
        """Give ``lane`` a new prefetch: new consumers, the old ones retire without returning a
        delivery (``worker/broker/consumers.py``); survives reconnects."""
        async with self._consume_lock:
            if self.prefetch[lane] == prefetch:
                return
            self.prefetch[lane] = prefetch
            await self._apply_window(lane)

    async def _apply_window(self, lane: Lane) -> None:
        session = self._session
        if session is None or not session.alive or not self._want_consuming:
            return
        consumers = session.consumers
        prefetch = self.prefetch[lane]
        changed = await consumers.replace(consumers.keys(lane), prefetch)
        if changed:
            log.info("consuming %s with prefetch %d (the previous consumer retires once full)",
                     consumers.names(changed), prefetch)

    def _retired(self, key: LaneQueue) -> None:
        """A retiring consumer is gone: a window that waited for it is applied now."""
        task = asyncio.ensure_future(self._reapply(key[1]))
        self._renewals.add(task)
        task.add_done_callback(self._renewals.discard)

    async def _reapply(self, lane: Lane) -> None:
        async with self._consume_lock:
            with contextlib.suppress(Exception):  # a lost session: the next one has the window
                await self._apply_window(lane)

    async def set_consuming(self, wanted: bool) -> None:
        """Start or stop the consumers; remembered across reconnects. Idempotent."""
        async with self._consume_lock:
            self._want_consuming = wanted
            session = self._session
            if session is None or not session.alive:
                return
            if wanted:
                await self._consume(session)
            else:
                await session.consumers.cancel_all()

    # -- sessions ----------------------------------------------------------------------------

    async def _connect(self) -> Session:
        settings = self._settings
        # Several nodes (a cluster): a shuffled order, the node of the lost session last.
        connection, self.node = await connect(
            settings.amqp_url, self.name, timeout=CONNECT_TIMEOUT_S, last=self.node
        )
        lost = asyncio.Event()

        def mark_lost(*_: object) -> None:
            lost.set()
            self._up.clear()

        connection.close_callbacks.add(mark_lost)
        try:
            session = await open_session(
                connection, settings, lost, mark_lost, on_nack=self._on_publish_nack,
                on_confirmed=self._on_results_message, callback=self._handler,
                on_retired=self._retired, on_control=self._on_control,
            )
            async with self._consume_lock:
                if self._want_consuming:
                    await self._consume(session)
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), CLOSE_TIMEOUT_S)
            raise
        self.sessions += 1
        self._up.set()
        return session

    async def _consume(self, session: Session) -> None:
        consumers = session.consumers
        for lane in Lane:
            missing = [key for key in consumers.keys(lane) if key not in consumers.active]
            if missing:
                await consumers.subscribe(missing, self.prefetch[lane])
                log.info("consuming %s with prefetch %d", consumers.names(missing),
                         self.prefetch[lane])

    def _handler(
        self, key: LaneQueue, consumer: Subscription
    ) -> Callable[[aiormq.abc.DeliveredMessage], Coroutine[Any, Any, None]]:
        route, lane = key

        async def on_message(delivered: aiormq.abc.DeliveredMessage) -> None:
            consumer.received()  # first: the consumer's count decides when it may be cancelled
            message = JobMessage(delivered, consumer)
            if delivery_count(message.headers):
                self._on_redelivered()
            await self._on_message(message, route, lane)

        return on_message
