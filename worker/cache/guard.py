"""A cache that is down or slow never fails or stalls a job.

Every call to the backend is bounded by a short timeout; any error or timeout opens a circuit
breaker, and while it is open the worker computes everything without asking the cache. After a
backoff (doubling, capped) one call probes the backend again: success closes the circuit, a
failure reopens it for longer. An outage is logged once when it starts and once when it ends;
each failed call is counted (``mtq_cache_errors_total``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence

from mtq.core.errors import error_text
from worker.cache.backends import CacheBackend

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 0.5  # MTQ_CACHE_TIMEOUT_MS
DEFAULT_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0


class CircuitBreaker:
    """Closed → open on a failure → one probe after the backoff → closed or open longer."""

    def __init__(
        self, base_backoff_s: float = DEFAULT_BACKOFF_S, max_backoff_s: float = MAX_BACKOFF_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self._clock = clock
        self._backoff_s = base_backoff_s
        self._retry_at: float | None = None  # None: closed
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self._retry_at is not None

    def allow(self) -> bool:
        """May a call go to the backend now? At most one probe while open."""
        if self._retry_at is None:
            return True
        if self._probing or self._clock() < self._retry_at:
            return False
        self._probing = True
        return True

    def succeeded(self) -> bool:
        """Record a success; True when that closed an open circuit."""
        recovered = self._retry_at is not None
        self._retry_at = None
        self._probing = False
        self._backoff_s = self.base_backoff_s
        return recovered

    def abandoned(self) -> None:
        """A call was cancelled before it said anything: let the next one probe."""
        self._probing = False

    def failed(self) -> bool:
        """Record a failure; True when that opened a closed circuit (an outage begins)."""
        began = self._retry_at is None
        if not began:
            self._backoff_s = min(self._backoff_s * 2, self.max_backoff_s)
        self._retry_at = self._clock() + self._backoff_s
        self._probing = False
        return began


class GuardedCache:
    """A backend behind a timeout and a circuit breaker; its calls never raise."""

    def __init__(
        self, backend: CacheBackend, *, timeout_s: float = DEFAULT_TIMEOUT_S,
        breaker: CircuitBreaker | None = None, on_error: Callable[[], None] = lambda: None,
    ) -> None:
        self.backend = backend
        self.name = backend.name
        self.timeout_s = timeout_s
        self.breaker = breaker or CircuitBreaker()
        self._on_error = on_error

    async def get_many(self, keys: Sequence[str]) -> list[str | None]:
        """The cached values, ``None`` for misses; all misses when the cache is unavailable."""
        if not keys or not self.breaker.allow():
            return [None] * len(keys)
        try:
            values = await asyncio.wait_for(self.backend.get_many(keys), self.timeout_s)
        except asyncio.CancelledError:
            self.breaker.abandoned()
            raise
        except Exception as exc:  # whatever the backend does, the job goes on without it
            self._failed("lookup", exc)
            return [None] * len(keys)
        self._succeeded()
        if len(values) != len(keys):
            return [None] * len(keys)
        return values

    async def put_many(self, items: Mapping[str, str]) -> None:
        """Store entries; dropped silently when the cache is unavailable."""
        if not items or not self.breaker.allow():
            return
        try:
            await asyncio.wait_for(self.backend.put_many(items), self.timeout_s)
        except asyncio.CancelledError:
            self.breaker.abandoned()
            raise
        except Exception as exc:  # a lost store costs a future hit, never the job
            self._failed("store", exc)
            return
        self._succeeded()

    async def aclose(self) -> None:
        try:
            await asyncio.wait_for(self.backend.aclose(), self.timeout_s)
        except Exception as exc:  # closing a dead connection may fail; nothing to keep
            log.debug("translation cache: close failed: %s", exc)

    def _failed(self, what: str, exc: BaseException) -> None:
        self._on_error()
        detail = error_text(exc)
        if self.breaker.failed():
            log.warning(
                "translation cache (%s) unavailable on %s (%s); translating without it until "
                "it answers again", self.name, what, detail,
            )
        else:
            log.debug("translation cache (%s) still unavailable: %s", self.name, detail)

    def _succeeded(self) -> None:
        if self.breaker.succeeded():
            log.info("translation cache (%s) answers again; using it", self.name)
