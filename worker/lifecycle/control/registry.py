"""Recent cancels, remembered so that a job arriving after its cancel is cancelled at intake.

Every worker keeps the cancels it received in memory (at most ``MEMORY_ENTRIES``, each for
``MTQ_CANCEL_TTL_S``): that covers a job on its way to this worker when the cancel came. A job
that another worker takes later needs a store all workers share: with a Redis
(``MTQ_CANCEL_STORE``, by default the Redis of ``MTQ_CACHE`` when it is one), the worker that
takes a cancel off ``mtq.control.pending`` writes it there with the same TTL, and intake asks
it. A Redis that fails or is slow (``MTQ_CACHE_TIMEOUT_MS``) is logged and counted, never
fatal: the job then runs and ends ``job.completed``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from mtq.core.control import CancelRequest
from mtq.core.settings import Settings

log = logging.getLogger(__name__)

MEMORY_ENTRIES = 10_000
KEY_PREFIX = "mtq:cancel:"
ANY_TENANT = "*"  # not a tenant character: a cancel without a tenant matches every tenant

Key = tuple[str, str]  # (tenant or ANY_TENANT, job id)


def _keys(job_id: str, tenant: str | None) -> list[Key]:
    any_tenant = (ANY_TENANT, job_id)
    return [any_tenant, (tenant, job_id)] if tenant else [any_tenant]


def _key(request: CancelRequest) -> Key:
    return (request.tenant or ANY_TENANT, request.job_id)


class CancelRegistry:
    def __init__(
        self, ttl_s: float, redis_url: str | None = None, *, timeout_s: float = 0.5,
        on_error: Callable[[], None] = lambda: None, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.redis_url = redis_url
        self._timeout_s = timeout_s
        self._on_error = on_error
        self._clock = clock
        self._memory: OrderedDict[Key, float] = OrderedDict()  # key -> expiry
        self._client: Redis | None = None

    @classmethod
    def from_settings(cls, settings: Settings, on_error: Callable[[], None]) -> CancelRegistry:
        store = settings.cancel_store
        if store == "auto":
            store = settings.cache if settings.cache.startswith(("redis://", "rediss://")) else ""
        return cls(settings.cancel_ttl_s, store if store.startswith("redis") else None,
                   timeout_s=settings.cache_timeout_ms / 1000, on_error=on_error)

    @property
    def shared(self) -> bool:
        return self.redis_url is not None

    # -- this worker's memory ------------------------------------------------------------

    def remember(self, request: CancelRequest) -> None:
        key = _key(request)
        self._memory.pop(key, None)
        self._memory[key] = self._clock() + self.ttl_s
        while len(self._memory) > MEMORY_ENTRIES:
            self._memory.popitem(last=False)

    def cancelled(self, job_id: str, tenant: str | None) -> bool:
        """Whether this worker received a cancel for the job within the TTL."""
        now = self._clock()
        while self._memory:  # oldest first: expired entries leave from the front
            key, expiry = next(iter(self._memory.items()))
            if expiry > now:
                break
            del self._memory[key]
        return any(key in self._memory for key in _keys(job_id, tenant))

    # -- the shared store ----------------------------------------------------------------

    async def share(self, request: CancelRequest) -> None:
        """Write the cancel where every worker's intake finds it (no-op without Redis)."""
        if self.redis_url is None:
            return
        tenant, job_id = _key(request)
        await self._guarded(self._redis().set(f"{KEY_PREFIX}{tenant}/{job_id}", b"1",
                                              ex=max(1, int(self.ttl_s))))

    async def is_cancelled(self, job_id: str, tenant: str | None) -> bool:
        """Whether a cancel for the job is known here or in the shared store."""
        if self.cancelled(job_id, tenant):
            return True
        if self.redis_url is None:
            return False
        names = [f"{KEY_PREFIX}{t}/{j}" for t, j in _keys(job_id, tenant)]
        found = await self._guarded(self._redis().mget(names))
        return isinstance(found, list) and any(value is not None for value in found)

    async def _guarded(self, call: Awaitable[Any]) -> Any:
        try:
            return await asyncio.wait_for(call, self._timeout_s)
        except Exception as exc:  # a cancel store that fails costs cancels, never a job
            self._on_error()
            log.warning("cancel store %s: %s", self.redis_url, exc or type(exc).__name__)
            return None

    def _redis(self) -> Redis:
        if self._client is None:
            self._client = Redis.from_url(
                self.redis_url or "", socket_timeout=self._timeout_s,
                socket_connect_timeout=self._timeout_s, retry=Retry(NoBackoff(), 0),
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
