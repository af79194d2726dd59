"""Stored glossaries as this worker knows them: read once, re-checked when their TTL is up.

A glossary is read whole the first time a job names it; afterwards, at most once every
``ttl_s``, one cheap query compares the stored version with the one held, and only a new
version is read again. So an update reaches every worker within ``ttl_s`` without a restart,
and a worker under load asks the database about each glossary at most once per ``ttl_s``.
Queries run on one async connection (psycopg 3), one at a time; a lost connection is opened
again on the next query. While the database is unreachable, glossaries already held are
used as they are (logged), and a glossary never read fails its jobs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from mtq.client.glossaries.reader import GlossaryReader, StoredGlossary
from mtq.core.errors import TransientError

log = logging.getLogger(__name__)


class StoreUnavailable(TransientError):
    """The glossary database could not be asked."""


@dataclass
class _Held:
    glossary: StoredGlossary
    checked: float


class GlossaryCache:
    def __init__(self, database_url: str, schema: str, ttl_s: float) -> None:
        self._url = database_url
        self._schema = schema
        self.ttl_s = ttl_s
        self._held: dict[tuple[str, str], _Held] = {}
        self._absent: dict[tuple[str, str], float] = {}
        self._lock = asyncio.Lock()
        self._conn: Any = None
        self.reads = 0  # whole glossaries read (tests and metrics)

    async def get(self, tenant: str, glossary_id: str) -> StoredGlossary | None:
        key = (tenant, glossary_id)
        held = self._held.get(key)
        now = time.monotonic()
        if held is not None and now - held.checked < self.ttl_s:
            return held.glossary
        absent = self._absent.get(key)
        if held is None and absent is not None and now - absent < self.ttl_s:
            return None
        async with self._lock:
            try:
                return await self._refresh(key, self._held.get(key))
            except Exception as exc:
                await self._drop_connection()
                current = self._held.get(key)
                if current is not None:
                    log.warning("glossary store unreachable (%s); using %s version %d as held",
                                exc, glossary_id, current.glossary.version)
                    return current.glossary
                raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def _refresh(self, key: tuple[str, str], held: _Held | None) -> StoredGlossary | None:
        reader = GlossaryReader(await self._connection(), self._schema)
        head = await reader.head(*key)
        now = time.monotonic()
        if head is None:
            self._held.pop(key, None)
            self._absent[key] = now
            return None
        self._absent.pop(key, None)
        if held is not None and held.glossary.version == head[0]:
            held.checked = now
            return held.glossary
        glossary = await reader.load(*key)
        if glossary is None:
            return None
        self.reads += 1
        log.info("glossary %s (tenant %r) version %d: %d entries", key[1], key[0],
                 glossary.version, len(glossary.entries))
        self._held[key] = _Held(glossary, now)
        return glossary

    async def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            import psycopg

            self._conn = await psycopg.AsyncConnection.connect(
                self._url, autocommit=True, connect_timeout=5)
        return self._conn

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:  # already broken
                log.debug("closing the glossary connection failed", exc_info=True)

    async def aclose(self) -> None:
        await self._drop_connection()
