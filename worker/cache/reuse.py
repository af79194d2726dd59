"""The worker's one door to reuse: cache lookups at intake, in-flight dedup, stores at completion.

Intake calls :meth:`SegmentReuse.lookup` before anything reaches the scheduler and
:meth:`SegmentReuse.claim` with what is left; the result path asks :meth:`SegmentReuse.holders`
who receives a segment's output; completion calls :meth:`SegmentReuse.store` with translations
it computed, before the result is published (never partial results: only a finished job's
translations are stored); a job that leaves calls :meth:`SegmentReuse.release`.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from mtq.contract import DecodeOptions
from mtq.errors import ConfigError
from worker.cache.backends import CacheBackend, MemoryCache, RedisCache
from worker.cache.dedup import Holder, InFlightSegments, Item, Rehomed
from worker.cache.guard import DEFAULT_TIMEOUT_S, GuardedCache
from worker.cache.metrics import CacheMetrics

REDIS_SCHEMES = ("redis", "rediss")


class SegmentReuse:
    def __init__(
        self, cache: CacheBackend | None, metrics: CacheMetrics, *, dedup: bool = True
    ) -> None:
        self.cache = cache
        self.metrics = metrics
        self.dedup = dedup
        self.flights: InFlightSegments[Any] = InFlightSegments()

    @property
    def enabled(self) -> bool:
        return self.cache is not None

    async def lookup(self, keys: Mapping[int, str]) -> dict[int, str]:
        """Cached translations of the segments ``keys`` names (index -> key), by index."""
        if self.cache is None or not keys:
            return {}
        indices = list(keys)
        values = await self.cache.get_many([keys[i] for i in indices])
        hits = {i: v for i, v in zip(indices, values, strict=True) if v is not None}
        self.metrics.hits_total.inc(len(hits))
        self.metrics.misses_total.inc(len(indices) - len(hits))
        return hits

    def claim(
        self, job_key: Hashable, options: DecodeOptions, work: Sequence[Item],
        keys: Sequence[str],
    ) -> list[Item]:
        """The part of ``work`` to enqueue; the rest joins identical segments in flight."""
        if not self.dedup or not keys:
            return list(work)
        before = self.flights.saved
        fresh = self.flights.claim(job_key, options, work, keys)
        self.metrics.dedup_saved_total.inc(self.flights.saved - before)
        return fresh

    def holders(self, job_key: Hashable, index: int) -> list[Holder]:
        return self.flights.finish(job_key, index)

    def release(self, job_key: Hashable) -> list[Rehomed[Any]]:
        """``job_key`` left: the flights it owned, moved to other jobs that must enqueue them."""
        return self.flights.release(job_key)

    async def store(self, entries: Mapping[str, str]) -> None:
        if self.cache is not None and entries:
            await self.cache.put_many(entries)

    async def aclose(self) -> None:
        if self.cache is not None:
            await self.cache.aclose()


def open_cache(
    spec: str, *, max_mb: int, ttl_s: int, metrics: CacheMetrics,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> CacheBackend | None:
    """The backend ``MTQ_CACHE`` names: ``memory`` (default), ``off`` or ``redis://host:port/db``."""
    spec = spec.strip()
    if spec == "off":
        return None
    if spec == "memory":
        return MemoryCache(max_mb * 1024 * 1024)
    check_cache_spec(spec)
    backend = RedisCache(spec, ttl_s, timeout_s)
    return GuardedCache(backend, timeout_s=timeout_s, on_error=metrics.errors_total.inc)


def check_cache_spec(spec: str) -> None:
    """Raise ConfigError unless ``spec`` is memory, off or a usable Redis URL."""
    if spec in ("memory", "off"):
        return
    parts = urlsplit(spec)
    if parts.scheme not in REDIS_SCHEMES:
        raise ConfigError(
            f"MTQ_CACHE={spec!r}: use 'memory', 'off' or a redis://host:port/db URL"
        )
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigError(f"MTQ_CACHE: bad port in the Redis URL: {exc}") from exc
    if not parts.hostname:
        raise ConfigError("MTQ_CACHE: the Redis URL names no host")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise ConfigError(f"MTQ_CACHE: the Redis database must be a number, not {db!r}")
