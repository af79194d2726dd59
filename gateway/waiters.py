"""Requests waiting for a job's final event, woken by PostgreSQL ``NOTIFY``.

The event may reach any replica's feed (they share one queue), so the replica holding the
request cannot wait on the feed itself: the feed stores the event and notifies, and every
replica listens on one connection of its own. A notification missed while that connection
is being re-opened is covered by the waiter re-reading the row every ``recheck_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger(__name__)


class Waiters:
    def __init__(self, database_url: str, channel: str, *, recheck_s: float = 1.0) -> None:
        self._url = database_url
        self._channel = channel
        self._recheck_s = recheck_s
        self._events: dict[str, asyncio.Event] = {}
        self.listening = asyncio.Event()

    @contextlib.asynccontextmanager
    async def expect(self, key: str) -> AsyncIterator[asyncio.Event]:
        """Register before publishing, so a result that comes back at once is not missed."""
        event = self._events.setdefault(key, asyncio.Event())
        try:
            yield event
        finally:
            self._events.pop(key, None)

    async def wait(self, event: asyncio.Event, done: Callable[[], Awaitable[bool]],
                   timeout_s: float) -> bool:
        """True once ``done()`` says so (checked on each notification and every recheck)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            if await done():
                return True
            left = deadline - loop.time()
            if left <= 0:
                return False
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(event.wait(), min(left, self._recheck_s))
            event.clear()

    async def run(self, stop: asyncio.Event) -> None:
        """LISTEN until ``stop``, re-connecting after a lost connection."""
        import psycopg

        while not stop.is_set():
            try:
                conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {self._channel}")
                    self.listening.set()
                    for event in self._events.values():
                        event.set()  # anything may have finished while we were away
                    async for note in conn.notifies():
                        waiting = self._events.get(note.payload)
                        if waiting is not None:
                            waiting.set()
            except psycopg.OperationalError as exc:
                self.listening.clear()
                log.warning("gateway: the LISTEN connection failed (%s); retrying", exc)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
