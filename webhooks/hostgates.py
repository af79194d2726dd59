"""Per-host fairness: a few deliveries per host at once, and a bounded backlog per host.

A dead or slow endpoint would otherwise fill the whole prefetch window with its own events
(each one waiting out a timeout) and starve every other receiver. Each host gets
``per_host`` concurrent deliveries and may hold at most ``max_held`` messages in total
(delivering plus waiting), and a message waits at most ``max_wait_s`` for one of its host's
slots. Past either bound :class:`HostBusy` is raised and the caller defers the event to the
retry ladder. A fast host's waiters get a slot long before the bound, so healthy bursts are
delivered straight away.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


class HostBusy(Exception):
    """The host already holds its share of the prefetch window, or is too slow to wait for."""


@dataclass
class _Host:
    semaphore: asyncio.Semaphore
    held: int = field(default=0)


class HostGates:
    def __init__(self, per_host: int, max_held: int, max_wait_s: float) -> None:
        if per_host < 1 or max_held < per_host or max_wait_s <= 0:
            raise ValueError("need 1 <= per_host <= max_held and max_wait_s > 0")
        self._per_host = per_host
        self._max_held = max_held
        self._max_wait_s = max_wait_s
        self._hosts: dict[str, _Host] = {}

    def held(self, host: str) -> int:
        entry = self._hosts.get(host)
        return entry.held if entry else 0

    @asynccontextmanager
    async def hold(self, host: str) -> AsyncIterator[None]:
        """Hold one of the host's slots; raise HostBusy when it cannot be had in time."""
        entry = self._hosts.get(host)
        if entry is None:
            entry = self._hosts[host] = _Host(asyncio.Semaphore(self._per_host))
        if entry.held >= self._max_held:
            raise HostBusy(f"{host} holds {entry.held} messages already")
        entry.held += 1
        try:
            try:
                await asyncio.wait_for(entry.semaphore.acquire(), self._max_wait_s)
            except asyncio.TimeoutError:
                raise HostBusy(f"{host} had no free slot for {self._max_wait_s:g}s") from None
            try:
                yield
            finally:
                entry.semaphore.release()
        finally:
            entry.held -= 1
            if entry.held == 0:
                # Forget idle hosts so the table does not grow with every receiver ever seen.
                del self._hosts[host]
