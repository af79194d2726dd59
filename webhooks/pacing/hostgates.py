"""Per-host gates: deliveries wait inside the dispatcher for their host's adaptive window.

Each receiver host has an :class:`~webhooks.pacing.pace.AdaptiveLimit`. A delivery holds one of its
host's slots; when the window is full it waits, in arrival order, unacked. Waiting is how a busy
host is paced: an event whose host answers 2xx is never sent to the retry ladder, however long
the host's queue (the prefetch window bounds how many a dispatcher holds, see delivery.md).

The one exception protects the other hosts from a failing one (its latest answer was a
timeout, connection error, 5xx or 429, or it asked for a pause with ``Retry-After``): then at
most ``failing_backlog`` of its events wait (a share of the prefetch window, so the others
keep the rest), and they wait only while the host makes progress: when requests are in flight
and it has answered none of them for ``max_wait_s`` (stalled on timeouts), or its pause
outlasts that, the waiting events raise :class:`HostBusy` and the caller defers them to the
ladder without spending an attempt. They follow failed attempts of their host, so the ladder
still only sees failures. A host that fails quickly (a fast 503) keeps making progress: its
events each get their attempt. A shorter pause is waited out: its end wakes the waiters, and
the time it lasted is not counted as silence (nothing was sent).

Host state outlives a burst (the learned window is kept) but is forgotten after
``HOST_IDLE_S`` without traffic, and the table is bounded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from webhooks.hostmetrics import HostMetrics
from webhooks.pacing.pace import AdaptiveLimit, Feedback
from webhooks.pacing.slotline import SlotLine

HOST_IDLE_S = 600.0
MAX_HOSTS = 10_000


class Busy(Exception):
    """No slot for this event within the bounds: the caller defers it without an attempt.

    ``wait_s`` is how long a slot is known to stay out of reach (a pause), so the deferral
    can pick a ladder step that outlasts it."""

    def __init__(self, reason: str, wait_s: float = 0.0) -> None:
        super().__init__(reason)
        self.wait_s = wait_s


class HostBusy(Busy):
    """The host is failing and has no slot for this event within the bounds."""


@dataclass
class Slot:
    """One delivery's hold on its host: when it started (for the once-per-window rule)."""

    host: str
    started: float


@dataclass
class _Host:
    limit: AdaptiveLimit
    label: str
    line: SlotLine = field(default_factory=SlotLine)
    held: int = 0
    last_used: float = 0.0
    last_progress: float = 0.0  # when the host last answered a try (any status)
    wake_scheduled: bool = False


class HostGates:
    def __init__(self, ceiling: int, max_wait_s: float, failing_backlog: int, *,
                 metrics: HostMetrics | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if ceiling < 1 or max_wait_s <= 0 or failing_backlog < 1:
            raise ValueError("need a ceiling and a failing backlog of at least 1, max_wait_s > 0")
        self._ceiling = ceiling
        self._max_wait_s = max_wait_s
        self._failing_backlog = failing_backlog
        self._metrics = metrics
        self._clock = clock
        self._hosts: dict[str, _Host] = {}

    def held(self, host: str) -> int:
        entry = self._hosts.get(host)
        return entry.held if entry else 0

    def window(self, host: str) -> int:
        entry = self._hosts.get(host)
        return entry.limit.window if entry else 0

    @asynccontextmanager
    async def hold(self, host: str) -> AsyncIterator[Slot]:
        """Hold one of the host's slots; raise HostBusy only when the host is failing."""
        entry = self._entry(host)
        entry.held += 1
        if not entry.line.take(self._free(entry)):  # a free slot is never counted as waiting
            self._gauge(entry, waiting=1)
            since = self._clock()
            try:
                await entry.line.wait(lambda: self._wake(entry),
                                      lambda position: self._refuse_if_failing(
                                          entry, position, since))
            except BaseException:
                entry.held -= 1
                raise
            finally:
                self._gauge(entry, waiting=-1)
        self._gauge(entry, in_flight=1)
        try:
            yield Slot(host, self._clock())
        finally:
            entry.line.in_flight -= 1
            entry.held -= 1
            entry.last_used = self._clock()
            self._gauge(entry, in_flight=-1)
            self._wake(entry)

    def record(self, slot: Slot, feedback: Feedback) -> None:
        """Feed one try's answer to the host's window (before the slot is released)."""
        entry = self._hosts.get(slot.host)
        if entry is None:
            return
        before = entry.limit.window
        now = self._clock()
        if feedback.answered:
            entry.last_progress = now
        entry.limit.record(feedback, slot.started, now)
        if self._metrics is not None:
            self._metrics.limit(entry.label, entry.limit.window - before)
            self._metrics.observe(entry.label, feedback.latency_s)
        self._wake(entry)

    def _refuse_if_failing(self, entry: _Host, position: int, since: float) -> None:
        now = self._clock()
        limit = entry.limit
        if not (limit.failing or limit.paused(now)):
            return
        if position >= self._failing_backlog:
            raise HostBusy(f"its host is failing and already has {position} events waiting")
        pause = limit.paused_until - now
        if pause >= self._max_wait_s:
            raise HostBusy(f"its host asked for a pause of {pause:.0f}s", wait_s=pause)
        if pause > 0:
            return  # a short pause: its end wakes the line
        # Silence counts only while something was sent: not the time a pause held us back.
        quiet_since = max(since, entry.last_progress, limit.paused_until)
        if entry.line.in_flight and now - quiet_since >= self._max_wait_s:
            raise HostBusy(f"its host answered none of the requests in flight for "
                           f"{now - quiet_since:.0f}s")

    def _free(self, entry: _Host) -> bool:
        return (entry.line.in_flight < entry.limit.window
                and not entry.limit.paused(self._clock()))

    def _wake(self, entry: _Host) -> None:
        """Hand free slots to the oldest waiters; while paused, wake them when it ends."""
        entry.line.wake(lambda: self._free(entry))
        now = self._clock()
        if entry.line.waiters and entry.limit.paused(now) and not entry.wake_scheduled:
            entry.wake_scheduled = True
            asyncio.get_running_loop().call_later(
                entry.limit.paused_until - now, self._after_pause, entry)

    def _after_pause(self, entry: _Host) -> None:
        entry.wake_scheduled = False
        self._wake(entry)

    def _entry(self, host: str) -> _Host:
        entry = self._hosts.get(host)
        if entry is None:
            self._forget_idle()
            label = self._metrics.label_for(host) if self._metrics is not None else host
            entry = self._hosts[host] = _Host(AdaptiveLimit(self._ceiling), label,
                                              last_progress=self._clock())
            if self._metrics is not None:
                self._metrics.limit(label, entry.limit.window)
        entry.last_used = self._clock()
        return entry

    def _forget_idle(self) -> None:
        now = self._clock()
        idle = [host for host, entry in self._hosts.items()
                if entry.held == 0 and (now - entry.last_used > HOST_IDLE_S
                                        or len(self._hosts) >= MAX_HOSTS)]
        for host in idle:
            entry = self._hosts.pop(host)
            if self._metrics is not None:
                self._metrics.limit(entry.label, -entry.limit.window)
                self._metrics.release(host)

    def _gauge(self, entry: _Host, *, waiting: int = 0, in_flight: int = 0) -> None:
        if self._metrics is not None:
            self._metrics.counts(entry.label, waiting=waiting, in_flight=in_flight)
