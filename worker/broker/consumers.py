"""The consumers of one session, and changing a lane's window without a single redelivery.

RabbitMQ fixes a consumer's prefetch when it subscribes: a later ``basic.qos`` (per consumer:
quorum queues refuse global QoS) applies only to consumers created after it; in RabbitMQ 3.10
it leaves a live consumer's prefetch as it was (measured: ``list_consumers`` and the deliveries
both keep the old value). So a new window needs a new consumer. Cancelling the old one is not
free either: a quorum queue hands deliveries to the channel process, which passes them to the
client, and whatever reaches the channel after it processed ``basic.cancel`` is returned to the
queue (``rabbit_fifo_client``, unknown consumer tag), with ``x-delivery-count`` + 1, exactly as
after a crash. Under load a cancel caught some in flight a few times in ten (measured), and the
worker then treated those healthy jobs as possible poison: alone, intake paused.

Nothing can be on its way to a consumer without credit, one that holds as many unsettled
deliveries as its prefetch: the broker delivered exactly what arrived, and took every settle
sent. So a window change subscribes a new consumer with the new prefetch and *retires* the old
one (:meth:`Subscription.retire`): it is cancelled at the first moment it is full, checked as
each of its deliveries arrives and before each of its settles, and none of its settles is sent
until the broker has the cancel (the cancel-ok came back). The deliveries it holds are settled
on the same channel as usual. So that it fills even when jobs trickle in, its acks are held
back while it retires (the results are already confirmed; only the ack waits; requeues are not
held): for at most ``RETIRE_HOLD_S``, and only while deliveries keep coming to it (none for
``RETIRE_IDLE_S``: the queue is empty, holding would only delay). A consumer that has not
filled by then lingers, holding no more than the old window, until it does. At most one
consumer per queue retires at a time: a newer window waits for it (``on_retired``).

Pausing intake and draining cancel at once, as before: intake must stop now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

import aiormq.abc

from worker.batching.fairness import Lane

log = logging.getLogger(__name__)

LaneQueue = tuple[str, Lane]  # (route, lane)
Callback = Callable[[aiormq.abc.DeliveredMessage], Coroutine[Any, Any, None]]
RETIRE_HOLD_S = 30.0
RETIRE_IDLE_S = 1.5


class Subscription:
    """One consumer: its prefetch, the deliveries it holds unsettled, and its retirement."""

    def __init__(self, key: LaneQueue, prefetch: int,
                 cancel: Callable[[Subscription], None]) -> None:
        self.key = key
        self.prefetch = prefetch
        self.tag = ""
        self.held = 0  # deliveries received whose settle has not been sent
        self.retiring = False
        self.cancelling = False
        self.gone = False
        self._cancel = cancel
        self._hold_until = 0.0  # loop time until which a retiring consumer's acks wait
        self._last_arrival = 0.0
        self._wake = asyncio.Event()

    def received(self) -> None:
        """One of its deliveries arrived (first thing its callback does)."""
        self.held += 1
        if self.retiring:
            self._arrived()
            self._cancel_if_full()

    async def settling(self, *, hold: bool) -> None:
        """Wait until a settle of one of its deliveries may be sent, then count it out.

        Call right before sending the frame, with nothing awaited in between. ``hold``: an
        ack, which a retiring consumer holds back so that it fills."""
        self._cancel_if_full()  # full now: the cancel goes out before this settle
        while True:
            wake = self._wake
            if self._may_send(hold):
                break
            await wake.wait()
        self.held -= 1

    def retire(self, hold_s: float) -> None:
        """Cancel once full; hold acks back for up to ``hold_s`` so that it fills."""
        self.retiring = True
        loop = asyncio.get_running_loop()
        self._hold_until = loop.time() + hold_s
        loop.call_later(hold_s, self._changed)
        self._arrived()
        self._cancel_if_full()

    def cancel_now(self) -> None:
        """Cancel whatever it holds (pausing intake, draining): its settles wait for it."""
        if not self.cancelling and not self.gone:
            self.cancelling = True
            self._cancel(self)

    def cancelled(self) -> None:
        """The broker has the cancel (or the channel is gone): settles may flow."""
        self.cancelling, self.gone = False, True
        self._changed()

    def _cancel_if_full(self) -> None:
        if self.retiring and self.held >= self.prefetch:
            self.cancel_now()

    def _may_send(self, hold: bool) -> bool:
        if self.gone:
            return True
        if self.cancelling:
            return False
        if not (hold and self.retiring):
            return True
        now = asyncio.get_running_loop().time()
        return now >= self._hold_until or now - self._last_arrival >= RETIRE_IDLE_S

    def _arrived(self) -> None:
        loop = asyncio.get_running_loop()
        self._last_arrival = loop.time()
        loop.call_later(RETIRE_IDLE_S, self._changed)  # held acks go if nothing else comes

    def _changed(self) -> None:
        self._wake.set()
        self._wake = asyncio.Event()


class Consumers:
    """The consumers of one consume channel: one active per queue, and those retiring."""

    def __init__(self, channel: aiormq.abc.AbstractChannel, queues: dict[LaneQueue, str],
                 callback: Callable[[LaneQueue, Subscription], Callback],
                 on_retired: Callable[[LaneQueue], None]) -> None:
        self._channel = channel
        self._queues = queues
        self._callback = callback
        self._on_retired = on_retired  # a retiring consumer is gone: a waiting window may go
        self.active: dict[LaneQueue, Subscription] = {}
        self.retiring: dict[LaneQueue, Subscription] = {}
        self._cancels: set[asyncio.Task[None]] = set()

    def keys(self, lane: Lane) -> list[LaneQueue]:
        return [key for key in self._queues if key[1] is lane]

    def names(self, keys: Iterable[LaneQueue]) -> str:
        return ", ".join(self._queues[key] for key in keys)

    async def subscribe(self, keys: list[LaneQueue], prefetch: int) -> None:
        """A consumer with ``prefetch`` on each queue of ``keys``."""
        # The prefetch applies to the consumers created after it: set just before subscribing.
        await self._channel.basic_qos(prefetch_count=prefetch)
        for key in keys:
            sub = Subscription(key, prefetch, self._start_cancel)
            ok = await self._channel.basic_consume(self._queues[key], self._callback(key, sub))
            sub.tag = str(ok.consumer_tag)
            self.active[key] = sub

    async def replace(self, keys: list[LaneQueue], prefetch: int) -> list[LaneQueue]:
        """New consumers with ``prefetch`` on ``keys``; the old ones retire. Returns the keys
        changed: a queue whose previous consumer still retires keeps its consumer for now."""
        changing = [key for key in keys if key not in self.retiring and key in self.active
                    and self.active[key].prefetch != prefetch]
        if changing:
            old = [self.active[key] for key in changing]
            await self.subscribe(changing, prefetch)
            for sub in old:
                self.retiring[sub.key] = sub
                sub.retire(RETIRE_HOLD_S)
        return changing

    async def cancel_all(self) -> None:
        """Every consumer cancelled now (pause, drain); returns once the broker has them."""
        subs = [*self.active.values(), *self.retiring.values()]
        self.active.clear()
        for sub in subs:
            sub.cancel_now()
        if self._cancels:
            await asyncio.gather(*self._cancels, return_exceptions=True)
        # Deliveries that reached the client before the cancel-ok are already scheduled as
        # tasks; two loop turns let them register with the worker before anyone counts them.
        for _ in range(3):
            await asyncio.sleep(0)

    def _start_cancel(self, sub: Subscription) -> None:
        task = asyncio.ensure_future(self._send_cancel(sub))
        self._cancels.add(task)
        task.add_done_callback(self._cancels.discard)

    async def _send_cancel(self, sub: Subscription) -> None:
        try:
            with contextlib.suppress(Exception):  # a dead channel: the session ends anyway
                await self._channel.basic_cancel(sub.tag)
        finally:
            sub.cancelled()
            if self.active.get(sub.key) is sub:
                del self.active[sub.key]
            if self.retiring.get(sub.key) is sub:
                del self.retiring[sub.key]
                log.info("%s: the consumer with prefetch %d retired (%d deliveries still to "
                         "settle)", self._queues[sub.key], sub.prefetch, sub.held)
                self._on_retired(sub.key)
