"""Where cached translations live: in this process (bounded LRU) or in a shared Redis.

Both speak the same small async interface, ``get_many`` / ``put_many``, one round trip per job
and direction. Values are the finished translation text, bounded in size: a value larger than
:data:`MAX_VALUE_BYTES` is neither stored nor trusted when read.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Protocol

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

# A translation is at most MTQ_MAX_NEW_TOKENS_LIMIT tokens; 64 KiB leaves room for any script.
MAX_VALUE_BYTES = 64 * 1024
# What one memory entry costs beside its key and value (dict slot, list node, str headers).
ENTRY_OVERHEAD_BYTES = 200


class CacheBackend(Protocol):
    name: str

    async def get_many(self, keys: Sequence[str]) -> list[str | None]: ...

    async def put_many(self, items: Mapping[str, str]) -> None: ...

    async def aclose(self) -> None: ...


class MemoryCache:
    """An in-process LRU bounded by the bytes its entries take (``MTQ_CACHE_MAX_MB``)."""

    name = "memory"

    def __init__(self, max_bytes: int, max_value_bytes: int = MAX_VALUE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.max_value_bytes = max_value_bytes
        self.size_bytes = 0
        self._entries: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get_many(self, keys: Sequence[str]) -> list[str | None]:
        return [self.get(key) for key in keys]

    async def put_many(self, items: Mapping[str, str]) -> None:
        for key, value in items.items():
            self.put(key, value)

    async def aclose(self) -> None:
        self._entries.clear()
        self.size_bytes = 0

    def get(self, key: str) -> str | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: str, value: str) -> None:
        cost = entry_cost(key, value)
        if len(value.encode("utf-8")) > self.max_value_bytes or cost > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.size_bytes -= entry_cost(key, old)
        self._entries[key] = value
        self.size_bytes += cost
        while self.size_bytes > self.max_bytes:
            evicted, value = self._entries.popitem(last=False)
            self.size_bytes -= entry_cost(evicted, value)


def entry_cost(key: str, value: str) -> int:
    return len(key) + len(value.encode("utf-8")) + ENTRY_OVERHEAD_BYTES


class RedisCache:
    """A Redis shared by every worker of a deployment; entries expire after ``ttl_s``.

    The client never retries by itself and gives up after ``timeout_s``: the caller
    (:class:`~worker.cache.guard.GuardedCache`) decides what a failure means. The connection
    pool belongs to the event loop of the first call, which is the worker's loop.
    """

    name = "redis"

    def __init__(
        self, url: str, ttl_s: int, timeout_s: float,
        max_value_bytes: int = MAX_VALUE_BYTES,
    ) -> None:
        self.url = url
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self.max_value_bytes = max_value_bytes
        self._client: Redis | None = None

    def _redis(self) -> Redis:
        if self._client is None:
            self._client = Redis.from_url(
                self.url, socket_timeout=self.timeout_s,
                socket_connect_timeout=self.timeout_s, retry=Retry(NoBackoff(), 0),
                decode_responses=False,
            )
        return self._client

    async def get_many(self, keys: Sequence[str]) -> list[str | None]:
        if not keys:
            return []
        raw = await self._redis().mget(list(keys))
        return [self._value(item) for item in raw]

    async def put_many(self, items: Mapping[str, str]) -> None:
        fitting = {k: v.encode("utf-8") for k, v in items.items()}
        fitting = {k: v for k, v in fitting.items() if len(v) <= self.max_value_bytes}
        if not fitting:
            return
        pipe = self._redis().pipeline(transaction=False)
        for key, value in fitting.items():
            pipe.set(key, value, ex=self.ttl_s if self.ttl_s > 0 else None)
        await pipe.execute()

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def _value(self, raw: object) -> str | None:
        """A stored value, or ``None`` for a miss or anything not a bounded UTF-8 text."""
        if not isinstance(raw, bytes) or len(raw) > self.max_value_bytes:
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
