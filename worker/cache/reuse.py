"""The worker's one door to reuse: cache lookups at intake, in-flight dedup, stores at completion.

- intake: :meth:`SegmentReuse.lookup_job` before anything reaches the scheduler (hits are
  answered there), then :meth:`SegmentReuse.claim` with the work that is left, as it is
  enqueued (the rest joins identical segments in flight);
- completion: :meth:`SegmentReuse.fan_out` turns each segment result into one per job holding
  that segment; :meth:`SegmentReuse.store_computed` stores a finished job's computed
  translations before its result is published (never partial results);
- the job table: :meth:`SegmentReuse.release` when a job leaves, which hands the flights it
  owned to jobs still waiting for them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Container, Hashable, Mapping, Sequence
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from mtq.core.contract import DecodeOptions, Job
from mtq.core.errors import ConfigError
from mtq.core.events import ModelInfo
from mtq.core.settings import Settings
from worker.cache.backends import CacheBackend, MemoryCache, RedisCache
from worker.cache.dedup import Holder, InFlightSegments, Item, Rehomed
from worker.cache.entries import CachedTranslation, decode_entry, encode_entry
from worker.cache.guard import DEFAULT_TIMEOUT_S, GuardedCache
from worker.cache.keys import ScopeDigests, segment_key
from worker.cache.metrics import CacheMetrics

REDIS_SCHEMES = ("redis", "rediss")


class _Result(Protocol):
    @property
    def segment(self) -> Any: ...


Result = TypeVar("Result", bound=_Result)


class SegmentReuse:
    def __init__(
        self, cache: CacheBackend | None, metrics: CacheMetrics, *, dedup: bool = True,
        per_tenant: bool = False,
    ) -> None:
        self.cache = cache
        self.metrics = metrics
        self.dedup = dedup
        self.per_tenant = per_tenant  # MTQ_CACHE_SCOPE=tenant: nothing shared across tenants
        self.flights: InFlightSegments[Any] = InFlightSegments()
        self._digests = ScopeDigests()

    @classmethod
    def from_settings(cls, settings: Settings, metrics: CacheMetrics) -> SegmentReuse:
        cache = open_cache(
            settings.cache, max_mb=settings.cache_max_mb, ttl_s=settings.cache_ttl_s,
            metrics=metrics, timeout_s=settings.cache_timeout_ms / 1000,
        )
        return cls(cache, metrics, dedup=settings.dedup,
                   per_tenant=settings.cache_scope == "tenant")

    @property
    def enabled(self) -> bool:
        return self.cache is not None

    def keys_for(self, info: ModelInfo, job: Job) -> list[str]:
        """The cache (and dedup) key of each segment of ``job``."""
        tenant = (job.tenant or "") if self.per_tenant else ""
        scope = self._digests.digest(info, job, tenant)
        return [segment_key(scope, text) for text in job.segments]

    async def lookup_job(
        self, info: ModelInfo, job: Job
    ) -> tuple[list[str], dict[int, CachedTranslation]]:
        """The job's keys, and the cached translations of its non-blank segments by index
        (an entry of the old format, without confidence, is a miss: cache/entries.py)."""
        keys = self.keys_for(info, job)
        asked = {i: key for i, key in enumerate(keys) if job.segments[i].strip()}
        raw = await self.lookup(asked, decode=decode_entry)
        return keys, {i: entry for i, entry in raw.items() if entry is not None}

    async def lookup(
        self, keys: Mapping[int, str], decode: Callable[[str], Any] | None = None
    ) -> dict[int, Any]:
        """Cached values of the segments ``keys`` names (index -> key), by index; ``decode``
        (value -> entry, or None for one that does not count) applied when given."""
        if self.cache is None or not keys:
            return {}
        indices = list(keys)
        values = await self.cache.get_many([keys[i] for i in indices])
        hits = {i: v if decode is None else decode(v)
                for i, v in zip(indices, values, strict=True) if v is not None}
        found = sum(1 for v in hits.values() if v is not None)
        self.metrics.hits_total.inc(found)
        self.metrics.misses_total.inc(len(indices) - found)
        return hits

    def claim(
        self, job_key: Hashable, options: DecodeOptions, work: Sequence[Item],
        keys: Sequence[str], group: Hashable = None,
    ) -> list[Item]:
        """The part of ``work`` to enqueue; the rest joins identical segments in flight.

        Only jobs of one ``group`` (the worker passes lane and tenant) share a flight.
        """
        if not self.dedup or not keys:
            return list(work)
        before = self.flights.saved
        fresh = self.flights.claim(job_key, options, work, keys, group)
        self.metrics.dedup_saved_total.inc(self.flights.saved - before)
        return fresh

    def holders(self, job_key: Hashable, index: int) -> list[Holder]:
        return self.flights.finish(job_key, index)

    def fan_out(self, results: Sequence[Result]) -> list[Result]:
        """One result per job holding each segment (a dedup'd segment has several)."""
        out: list[Result] = []
        for result in results:
            segment = result.segment
            for job_key, index in self.holders(segment.job_key, segment.index):
                if job_key == segment.job_key and index == segment.index:
                    out.append(result)
                else:
                    moved = dataclasses.replace(segment, job_key=job_key, index=index)
                    out.append(dataclasses.replace(result, segment=moved))  # type: ignore[type-var]
        return out

    def release(self, job_key: Hashable) -> list[Rehomed[Any]]:
        """``job_key`` left: the flights it owned, moved to other jobs that must enqueue them."""
        return self.flights.release(job_key)

    def cancel(
        self, job_key: Hashable, dropped: Sequence[int], waiting: Callable[[Holder], bool]
    ) -> tuple[list[int], list[Rehomed[Any]]]:
        """``job_key`` was cancelled with ``dropped`` taken from the scheduler: every segment
        of it that is not coming any more, and the flights it owned, moved to other jobs."""
        if not self.dedup:
            return sorted(dropped), []
        return self.flights.cancel(job_key, dropped, waiting)

    async def store(self, entries: Mapping[str, str]) -> None:
        if self.cache is not None and entries:
            await self.cache.put_many(entries)

    async def store_computed(
        self, keys: Sequence[str], translations: Sequence[CachedTranslation],
        answered: Container[int],
    ) -> None:
        """Store a finished job's translations, except those ``answered`` without the model."""
        if keys:
            await self.store({
                keys[i]: encode_entry(entry) for i, entry in enumerate(translations)
                if i not in answered
            })

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
