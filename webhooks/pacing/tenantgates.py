"""Per-tenant shares: one tenant's failing hosts cannot take every delivery slot.

The host gates bound each host; a tenant with many hosts that hang would still hold every
slot of ``MTQ_WEBHOOK_CONCURRENCY`` until they time out, and every other tenant's events wait
behind them. So each tenant (the job's ``tenant``, echoed in its event) may have at most
``share`` deliveries at once (``MTQ_WEBHOOK_PER_TENANT``). An event of a tenant at its share
waits, in arrival order, unacked, before it asks for its host's window: it holds nothing
another tenant needs.

As for hosts, waiting is back-pressure while the tenant's receivers answer. It is bounded
while they fail (the tenant's latest answer was a timeout, connection error, 5xx or 429) and
also while its requests in flight have gone unanswered for ``UNANSWERED_S``: hosts that hang
give no sign before their timeout, and meanwhile their events would fill the prefetch window,
so no other tenant's event could even arrive. Then at most ``failing_backlog`` of its events
wait, and only while its requests in flight get answers; beyond that, or after ``max_wait_s``
without an answer, the waiting events raise :class:`TenantBusy` and are deferred to the
ladder without spending an attempt.

Events without a tenant are limited per host only: a deployment without tenants keeps the
whole concurrency. Tenant state is forgotten after ``TENANT_IDLE_S`` without traffic.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from webhooks.pacing.hostgates import Busy
from webhooks.pacing.pace import Feedback, Signal
from webhooks.pacing.slotline import SlotLine

TENANT_IDLE_S = 600.0
MAX_TENANTS = 10_000
# Receivers that answer within this keep a tenant's waiting unbounded; a tenant whose hosts
# hang holds the prefetch window no longer than this before its overflow is deferred.
UNANSWERED_S = 1.0


class TenantBusy(Busy):
    """The tenant is failing and has no slot for this event within the bounds."""


@dataclass
class _Tenant:
    line: SlotLine = field(default_factory=SlotLine)
    held: int = 0
    failing: bool = False  # the latest answer to one of its deliveries was a failure
    last_progress: float = -math.inf  # when one of its deliveries last got an answer
    busy_since: float | None = None  # since when it has had deliveries in flight
    last_used: float = 0.0


class TenantGates:
    def __init__(self, share: int, max_wait_s: float, failing_backlog: int, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if share < 1 or max_wait_s <= 0 or failing_backlog < 1:
            raise ValueError("need a share and a failing backlog of at least 1, max_wait_s > 0")
        self._share = share
        self._max_wait_s = max_wait_s
        self._failing_backlog = failing_backlog
        self._clock = clock
        self._tenants: dict[str, _Tenant] = {}

    def held(self, tenant: str) -> int:
        entry = self._tenants.get(tenant)
        return entry.held if entry else 0

    @asynccontextmanager
    async def hold(self, tenant: str) -> AsyncIterator[None]:
        """Hold one of the tenant's slots; raise TenantBusy only when the tenant is failing."""
        if not tenant:
            yield
            return
        entry = self._entry(tenant)
        entry.held += 1
        try:
            if not entry.line.take(self._free(entry)):
                since = self._clock()
                await entry.line.wait(lambda: self._wake(entry),
                                      lambda position: self._refuse_if_failing(
                                          entry, position, since))
            if entry.busy_since is None:
                entry.busy_since = self._clock()
            try:
                yield
            finally:
                entry.line.in_flight -= 1
                if not entry.line.in_flight:
                    entry.busy_since = None
                self._wake(entry)
        finally:
            entry.held -= 1
            entry.last_used = self._clock()

    def record(self, tenant: str, feedback: Feedback) -> None:
        """Feed one try's answer (before the slot is released)."""
        entry = self._tenants.get(tenant)
        if entry is None:
            return
        entry.failing = feedback.signal is Signal.FAILED
        if feedback.answered:
            entry.last_progress = self._clock()

    def _refuse_if_failing(self, entry: _Tenant, position: int, since: float) -> None:
        now = self._clock()
        if self._answering(entry, now):
            return  # wait as long as it takes
        if position >= self._failing_backlog:
            state = "failing" if entry.failing else "not answering"
            raise TenantBusy(f"its tenant is {state} and already has {position} events "
                             f"waiting for its {self._share} slots")
        quiet = now - max(since, entry.last_progress)
        if entry.line.in_flight and quiet >= self._max_wait_s:
            raise TenantBusy(f"its tenant's receivers answered none of its requests in "
                             f"flight for {quiet:.0f}s")

    @staticmethod
    def _answering(entry: _Tenant, now: float) -> bool:
        """Not failing, and its requests in flight (if any) got an answer lately."""
        if entry.failing:
            return False
        return (entry.busy_since is None
                or now - max(entry.busy_since, entry.last_progress) < UNANSWERED_S)

    def _free(self, entry: _Tenant) -> bool:
        return entry.line.in_flight < self._share

    def _wake(self, entry: _Tenant) -> None:
        entry.line.wake(lambda: self._free(entry))

    def _entry(self, tenant: str) -> _Tenant:
        entry = self._tenants.get(tenant)
        if entry is None:
            self._forget_idle()
            now = self._clock()
            entry = self._tenants[tenant] = _Tenant(last_used=now)
        return entry

    def _forget_idle(self) -> None:
        now = self._clock()
        idle = [tenant for tenant, entry in self._tenants.items()
                if entry.held == 0 and (now - entry.last_used > TENANT_IDLE_S
                                        or len(self._tenants) >= MAX_TENANTS)]
        for tenant in idle:
            del self._tenants[tenant]
