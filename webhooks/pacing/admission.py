"""Admission: the bounds an event passes before its POST, and where each try's answer goes.

In this order, each waited for in arrival order, unacked:

1. its tenant's share (``tenantgates.py``, ``MTQ_WEBHOOK_PER_TENANT``);
2. its host's adaptive window (``hostgates.py``, at most ``MTQ_WEBHOOK_PER_HOST``);
3. a slot of ``MTQ_WEBHOOK_CONCURRENCY``.

The tenant comes first: an event waiting for its tenant holds no host slot (receivers such as
a shared webhook service serve several tenants) and no concurrency slot. A failing host or
tenant may hold half of the prefetch window (``max(MTQ_WEBHOOK_PER_HOST, prefetch ÷ 2)``
waiting events), and only while it answers within a delivery timeout; beyond that a gate
raises :class:`~webhooks.pacing.hostgates.Busy` and the caller defers the event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from mtq.core.settings import Settings
from webhooks.events import ResultMessage
from webhooks.metrics import DispatcherMetrics
from webhooks.pacing.hostgates import HostGates, Slot
from webhooks.pacing.pace import Feedback
from webhooks.pacing.tenantgates import TenantGates


def tenant_share(settings: Settings) -> int:
    """``MTQ_WEBHOOK_PER_TENANT``, or half of ``MTQ_WEBHOOK_CONCURRENCY`` when it is 0."""
    return settings.webhook_per_tenant or max(1, settings.webhook_concurrency // 2)


@dataclass(frozen=True)
class Ticket:
    """One delivery's hold on its tenant, host and a concurrency slot."""

    tenant: str
    slot: Slot


class Admission:
    def __init__(self, settings: Settings, metrics: DispatcherMetrics) -> None:
        backlog = max(settings.webhook_per_host, settings.dispatcher_prefetch // 2)
        self.tenants = TenantGates(tenant_share(settings), settings.webhook_timeout_s, backlog)
        self.hosts = HostGates(settings.webhook_per_host, settings.webhook_timeout_s, backlog,
                               metrics=metrics.hosts)
        self._slots = asyncio.Semaphore(settings.webhook_concurrency)

    @asynccontextmanager
    async def hold(self, event: ResultMessage) -> AsyncIterator[Ticket]:
        """Pass every bound; raise Busy when the tenant or host is failing beyond them."""
        async with (self.tenants.hold(event.tenant), self.hosts.hold(event.host) as slot,
                    self._slots):
            yield Ticket(event.tenant, slot)

    def record(self, ticket: Ticket, feedback: Feedback) -> None:
        """Feed one try's answer to the host's window and the tenant's state."""
        self.hosts.record(ticket.slot, feedback)
        self.tenants.record(ticket.tenant, feedback)
