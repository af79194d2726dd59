"""A line of deliveries waiting for slots, served in arrival order (host and tenant gates).

The gate that owns a line decides when a slot is free and hands free slots out with
:meth:`SlotLine.wake`; it must call it whenever that may have changed (a slot released, a
window grown, a pause over). The line calls it too when a waiter joins or leaves, and on
every tick of a wait, so a change a gate forgot to announce costs a tick, never a stuck line.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable

TICK_S = 0.25  # how often a waiter re-checks its gate's bounds (and for a free slot)


class SlotLine:
    def __init__(self) -> None:
        self.in_flight = 0
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def take(self, free: bool) -> bool:
        """Take a slot at once when one is free and nobody waits for it before us."""
        if free and not self.waiters:
            self.in_flight += 1
            return True
        return False

    def wake(self, free: Callable[[], bool]) -> None:
        """Hand free slots to the oldest waiters (``in_flight`` counts them at once)."""
        while self.waiters and free():
            future = self.waiters.popleft()
            if not future.done():
                self.in_flight += 1
                future.set_result(None)

    async def wait(self, wake: Callable[[], None], check: Callable[[int], None]) -> None:
        """Wait in line until ``wake`` hands us a slot. ``check(position)`` runs on every
        tick and may raise to give up; a waiter that leaves, handed a slot or not, lets
        ``wake`` serve the next one."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(future)
        try:
            wake()
            while not future.done():
                check(self.waiters.index(future))
                try:
                    await asyncio.wait_for(asyncio.shield(future), TICK_S)
                except asyncio.TimeoutError:
                    wake()
        except BaseException:
            if future.done() and not future.cancelled():
                self.in_flight -= 1  # handed a slot we will not use: pass it on
            else:
                future.cancel()
            raise
        finally:
            if future in self.waiters:
                self.waiters.remove(future)
            wake()
