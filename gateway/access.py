"""Who is calling: API keys looked up by hash, and a token bucket per key.

Lookups are cached for a few seconds (a revoked key stops working within ``cache_s``), and
the rate limit is counted per replica: N replicas let a key make N times the rate.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gateway.errors import GatewayError
from gateway.keys import key_hash


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    def __init__(self, rate_per_s: float, burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate_per_s
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, who: str) -> float | None:
        """None if ``who`` may go ahead now, else the seconds until it may."""
        now = self._clock()
        bucket = self._buckets.get(who)
        if bucket is None:
            bucket = self._buckets[who] = _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / self._rate


class Access:
    def __init__(self, lookup: Callable[[str], Awaitable[str | None]], limiter: RateLimiter,
                 *, cache_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._lookup = lookup
        self._limiter = limiter
        self._cache_s = cache_s
        self._clock = clock
        self._known: dict[str, tuple[str | None, float]] = {}

    async def tenant(self, key: str | None) -> str:
        """The key's tenant; raises 401/403/429 as a :class:`GatewayError`."""
        if not key:
            raise GatewayError(401, "unauthorized", "an API key is required")
        digest = key_hash(key)
        cached = self._known.get(digest)
        if cached is not None and self._clock() - cached[1] < self._cache_s:
            tenant = cached[0]
        else:
            tenant = await self._lookup(digest)
            if len(self._known) > 10_000:
                self._known.clear()  # bounded: unknown keys must not grow it forever
            self._known[digest] = (tenant, self._clock())
        if tenant is None:
            raise GatewayError(403, "forbidden", "the API key is not valid")
        wait = self._limiter.take(digest)
        if wait is not None:
            raise GatewayError(429, "rate_limited", "too many requests for this API key",
                               retry_after=wait)
        return tenant
