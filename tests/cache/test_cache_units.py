"""Pure logic of the translation cache: keys, the LRU, the circuit breaker, in-flight dedup."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from mtq.core.contract import DecodeOptions, Job
from mtq.core.errors import ConfigError
from mtq.core.events import ModelInfo
from worker.cache import CacheMetrics, CacheScope, SegmentReuse, check_cache_spec, open_cache
from worker.cache.backends import MAX_VALUE_BYTES, MemoryCache, RedisCache, entry_cost
from worker.cache.dedup import InFlightSegments
from worker.cache.guard import CircuitBreaker, GuardedCache
from worker.cache.keys import ScopeDigests

INFO = ModelInfo(name="tiny", revision="sha256:aaaa", engine="hf", compute_type="float32")
OPTIONS = DecodeOptions(beam_size=2, max_new_tokens=8)


def scope(**changes: object) -> CacheScope:
    return dataclasses.replace(CacheScope.of(INFO, "en", "de", OPTIONS), **changes)


# -- keys ------------------------------------------------------------------------------------


def test_keys_are_stable_hashes_that_hide_the_text() -> None:
    first, second = scope().keys(["Hello world", "Hello world"])
    assert first == second == scope().keys(["Hello world"])[0]
    assert first.startswith("mtq:tr:") and "Hello" not in first
    assert len(first) == len("mtq:tr:") + 64


@pytest.mark.parametrize("field, value", [
    ("revision", "sha256:bbbb"), ("model", "other"), ("engine", "ctranslate2"),
    ("compute_type", "int8"), ("tenant", "acme"),
])
def test_every_model_field_changes_the_key(field: str, value: object) -> None:
    assert scope(**{field: value}).keys(["Hello"]) != scope().keys(["Hello"])


@pytest.mark.parametrize("changes", [
    {"source_lang": "fr"}, {"target_lang": "fr"},
    {"options": DecodeOptions(beam_size=4, max_new_tokens=8)},
    {"options": DecodeOptions(beam_size=2, max_new_tokens=16)},
])
def test_every_job_field_that_shapes_the_output_changes_the_key(changes: dict[str, Any]) -> None:
    job = Job(job_id="j", source_lang="en", target_lang="de", segments=("Hello",),
              callback_url="https://x.example/", options=OPTIONS)
    base = CacheScope.for_job(INFO, job)
    assert base == scope()  # the same scope as a job with those fields
    assert CacheScope.for_job(INFO, dataclasses.replace(job, **changes)) != base


@pytest.mark.parametrize("changes", [
    {"source_lang": "fr"}, {"options": DecodeOptions(beam_size=4, max_new_tokens=8)},
    {"tenant": "acme"},
])
def test_remembered_scope_digests_equal_computed_ones(changes: dict[str, Any]) -> None:
    job = Job(job_id="j", source_lang="en", target_lang="de", segments=("Hello",),
              callback_url="https://x.example/", options=OPTIONS)
    digests = ScopeDigests()
    tenant = str(changes.pop("tenant", ""))
    other = dataclasses.replace(job, **changes)
    for _ in range(2):  # computed, then remembered
        assert digests.digest(INFO, job) == CacheScope.for_job(INFO, job).digest()
        assert digests.digest(INFO, other, tenant) == CacheScope.for_job(
            INFO, other, tenant).digest()
    assert digests.digest(INFO, other, tenant) != digests.digest(INFO, job)


def test_job_id_callback_and_metadata_do_not_change_the_key() -> None:
    job = Job(job_id="j", source_lang="en", target_lang="de", segments=("Hello",),
              callback_url="https://x.example/", options=OPTIONS, metadata={"a": 1})
    other = dataclasses.replace(job, job_id="k", callback_url="https://y.example/",
                                metadata={"b": 2}, segments=("Bye",))
    assert CacheScope.for_job(INFO, job) == CacheScope.for_job(INFO, other)


def test_texts_differing_in_whitespace_or_case_are_different_keys() -> None:
    keys = scope().keys(["Hello", "hello", "Hello ", " Hello"])
    assert len(set(keys)) == 4


# -- the in-process LRU ----------------------------------------------------------------------


def test_memory_cache_evicts_least_recently_used_within_its_byte_bound() -> None:
    one = entry_cost("k1", "v" * 100)
    cache = MemoryCache(max_bytes=3 * one)
    for key in ("k1", "k2", "k3"):
        cache.put(key, "v" * 100)
    assert cache.get("k1") is not None  # k1 is now the most recently used
    cache.put("k4", "v" * 100)
    assert cache.get("k2") is None
    assert [cache.get(k) is not None for k in ("k1", "k3", "k4")] == [True, True, True]
    assert cache.size_bytes <= cache.max_bytes


def test_memory_cache_refuses_oversized_values_and_replaces_in_place() -> None:
    cache = MemoryCache(max_bytes=10 * MAX_VALUE_BYTES)
    cache.put("big", "x" * (MAX_VALUE_BYTES + 1))
    assert cache.get("big") is None and len(cache) == 0
    cache.put("k", "first")
    cache.put("k", "second")
    assert cache.get("k") == "second" and len(cache) == 1
    assert cache.size_bytes == entry_cost("k", "second")


def test_redis_values_that_are_not_bounded_text_read_as_misses() -> None:
    backend = RedisCache("redis://127.0.0.1:1/0", ttl_s=60, timeout_s=0.1, max_value_bytes=8)
    assert backend._value(b"Hallo") == "Hallo"
    assert backend._value(b"\xff\xfe") is None
    assert backend._value(b"x" * 9) is None
    assert backend._value(None) is None


# -- the circuit breaker -----------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_on_failure_probes_once_after_backoff_and_doubles() -> None:
    clock = Clock()
    breaker = CircuitBreaker(base_backoff_s=1.0, max_backoff_s=3.0, clock=clock)
    assert breaker.allow()
    assert breaker.failed() is True  # an outage begins
    assert not breaker.allow()
    clock.now = 1.0
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one at a time
    assert breaker.failed() is False  # same outage, longer backoff (2s)
    clock.now = 2.5
    assert not breaker.allow()
    clock.now = 3.0
    assert breaker.allow()
    breaker.failed()  # capped at 3s
    clock.now = 5.9
    assert not breaker.allow()
    clock.now = 6.0
    assert breaker.allow()
    assert breaker.succeeded() is True  # recovered
    assert breaker.allow() and not breaker.is_open
    breaker.failed()
    clock.now = 7.0  # backoff was reset to the base
    assert breaker.allow()


def test_a_cancelled_probe_lets_the_next_call_probe() -> None:
    clock = Clock()
    breaker = CircuitBreaker(base_backoff_s=1.0, clock=clock)
    breaker.failed()
    clock.now = 1.0
    assert breaker.allow()
    breaker.abandoned()
    assert breaker.allow()


class Broken:
    """A backend that fails (or hangs) until told otherwise; counts the calls that reach it."""

    name = "broken"

    def __init__(self) -> None:
        self.mode = "fail"
        self.calls = 0
        self.data: dict[str, str] = {}

    async def _act(self) -> None:
        self.calls += 1
        if self.mode == "fail":
            raise ConnectionError("connection refused")
        if self.mode == "hang":
            await asyncio.Event().wait()

    async def get_many(self, keys: Sequence[str]) -> list[str | None]:
        await self._act()
        return [self.data.get(k) for k in keys]

    async def put_many(self, items: Mapping[str, str]) -> None:
        await self._act()
        self.data.update(items)

    async def aclose(self) -> None:
        return None


def test_guard_turns_failures_and_hangs_into_misses_logs_once_and_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    backend = Broken()
    errors: list[int] = []
    guard = GuardedCache(
        backend, timeout_s=0.05, breaker=CircuitBreaker(1.0, clock=clock),
        on_error=lambda: errors.append(1),
    )

    async def scenario() -> None:
        assert await guard.get_many(["a", "b"]) == [None, None]
        await guard.put_many({"a": "A"})  # circuit open: not even tried
        assert backend.calls == 1 and len(errors) == 1
        clock.now = 1.0
        backend.mode = "hang"
        assert await guard.get_many(["a"]) == [None]  # the probe times out
        assert len(errors) == 2
        clock.now = 10.0
        backend.mode = "ok"
        await guard.put_many({"a": "A"})
        assert await guard.get_many(["a", "b"]) == ["A", None]

    with caplog.at_level("INFO", logger="worker.cache.guard"):
        asyncio.run(scenario())
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "unavailable" in warnings[0].getMessage()
    assert any("answers again" in r.getMessage() for r in caplog.records)


# -- in-flight dedup ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Item:
    """A work item as the scheduler takes one (index and token ids)."""

    index: int
    tokens: tuple[int, ...]


def work(*pairs: tuple[int, str]) -> list[Item]:
    return [Item(index, tuple(ord(ch) for ch in text)) for index, text in pairs]


def test_repeats_within_and_across_jobs_are_claimed_once_and_fanned_out() -> None:
    flights: InFlightSegments[Item] = InFlightSegments()
    keys_a = ["kx", "ky", "kx"]
    fresh = flights.claim("A", OPTIONS, work((0, "x"), (1, "y"), (2, "x")), keys_a)
    assert [item.index for item in fresh] == [0, 1]
    fresh = flights.claim("B", OPTIONS, work((0, "y"), (1, "z")), ["ky", "kz"])
    assert [item.index for item in fresh] == [1]
    assert flights.saved == 2
    assert flights.finish("A", 0) == [("A", 0), ("A", 2)]
    assert flights.finish("A", 1) == [("A", 1), ("B", 0)]
    assert flights.finish("B", 1) == [("B", 1)]
    assert len(flights) == 0 and flights._by_job == {}
    assert flights.finish("C", 5) == [("C", 5)]  # never deduped: only itself


def test_a_leaving_owner_hands_its_flights_to_another_job() -> None:
    flights: InFlightSegments[Item] = InFlightSegments()
    flights.claim("A", OPTIONS, work((0, "x"), (1, "y"), (2, "x")), ["kx", "ky", "kx"])
    flights.claim("B", OPTIONS, work((0, "x"), (1, "w"), (2, "y")), ["kx", "kw", "ky"])
    flights.claim("C", OPTIONS, work((0, "w")), ["kw"])
    moved = flights.release("A")
    assert len(moved) == 1 and moved[0].job_key == "B" and moved[0].options == OPTIONS
    # B's own indices, with the tokens of the segments it now computes
    assert moved[0].work == [Item(0, (ord("x"),)), Item(2, (ord("y"),))]
    assert flights.finish("A", 0) == [("A", 0)]  # a late result of the old owner: no fan-out
    assert flights.finish("B", 0) == [("B", 0)]
    assert flights.release("C") == []  # a follower leaving moves nothing
    assert flights.finish("B", 1) == [("B", 1)]
    assert flights.finish("B", 2) == [("B", 2)]
    assert len(flights) == 0 and flights._by_job == {}


def test_only_holders_of_one_group_share_a_flight() -> None:
    flights: InFlightSegments[Item] = InFlightSegments()
    assert flights.claim("A", OPTIONS, work((0, "x")), ["kx"], group=("bulk", "t1")) != []
    assert flights.claim("B", OPTIONS, work((0, "x")), ["kx"], group=("interactive", "t1"))
    assert flights.claim("C", OPTIONS, work((0, "x")), ["kx"], group=("bulk", "t2"))
    assert flights.claim("D", OPTIONS, work((0, "x")), ["kx"], group=("bulk", "t1")) == []
    assert flights.finish("A", 0) == [("A", 0), ("D", 0)]
    assert flights.finish("B", 0) == [("B", 0)]


def test_a_leaving_owner_with_only_its_own_repeats_drops_the_flight() -> None:
    flights: InFlightSegments[Item] = InFlightSegments()
    flights.claim("A", OPTIONS, work((0, "x"), (1, "x")), ["kx", "kx"])
    assert flights.release("A") == []
    assert len(flights) == 0
    assert flights.claim("B", OPTIONS, work((0, "x")), ["kx"]) != []


# -- the facade and the settings spec -------------------------------------------------------------


def test_reuse_counts_hits_misses_and_segments_saved() -> None:
    registry = CollectorRegistry()
    metrics = CacheMetrics(registry)
    reuse = SegmentReuse(MemoryCache(1 << 20), metrics)

    async def scenario() -> dict[int, str]:
        keys = scope().keys(["a", "b", "c"])
        await reuse.store({keys[0]: "A"})
        return await reuse.lookup(dict(enumerate(keys)))

    assert asyncio.run(scenario()) == {0: "A"}
    reuse.claim("J", OPTIONS, work((0, "x"), (1, "x")), ["kx", "kx"])
    value = registry.get_sample_value
    assert value("mtq_cache_hits_total") == 1
    assert value("mtq_cache_misses_total") == 2
    assert value("mtq_dedup_saved_segments_total") == 1
    assert value("mtq_cache_errors_total") == 0


def test_cache_off_looks_nothing_up_but_still_dedups() -> None:
    metrics = CacheMetrics(CollectorRegistry())
    reuse = SegmentReuse(open_cache("off", max_mb=1, ttl_s=1, metrics=metrics), metrics)
    assert not reuse.enabled
    assert asyncio.run(reuse.lookup({0: "k"})) == {}
    assert len(reuse.claim("J", OPTIONS, work((0, "x"), (1, "x")), ["kx", "kx"])) == 1


def test_dedup_off_enqueues_everything() -> None:
    metrics = CacheMetrics(CollectorRegistry())
    reuse = SegmentReuse(None, metrics, dedup=False)
    assert len(reuse.claim("J", OPTIONS, work((0, "x"), (1, "x")), ["kx", "kx"])) == 2
    assert reuse.holders("J", 1) == [("J", 1)]


def test_open_cache_builds_each_backend() -> None:
    metrics = CacheMetrics(CollectorRegistry())
    memory = open_cache("memory", max_mb=2, ttl_s=1, metrics=metrics)
    assert isinstance(memory, MemoryCache) and memory.max_bytes == 2 * 1024 * 1024
    redis = open_cache("redis://127.0.0.1:6379/3", max_mb=2, ttl_s=60, metrics=metrics)
    assert isinstance(redis, GuardedCache) and isinstance(redis.backend, RedisCache)
    assert redis.backend.ttl_s == 60


@pytest.mark.parametrize("spec", ["memcached://x", "redis://", "redis://h:port/0", "redis://h/x"])
def test_bad_cache_specs_are_one_line_config_errors(spec: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_cache_spec(spec)
    assert "MTQ_CACHE" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("spec", ["memory", "off", "redis://127.0.0.1:6379/0", "rediss://h"])
def test_good_cache_specs_pass(spec: str) -> None:
    check_cache_spec(spec)


def test_a_per_tenant_scope_keeps_tenants_apart_and_a_shared_one_does_not() -> None:
    metrics = CacheMetrics(CollectorRegistry())
    job = Job(job_id="j", source_lang="en", target_lang="de", segments=("Hello",),
              callback_url="https://x.example/", options=OPTIONS, tenant="acme")
    other = dataclasses.replace(job, tenant="globex")
    shared = SegmentReuse(None, metrics)
    assert shared.keys_for(INFO, job) == shared.keys_for(INFO, other)
    scoped = SegmentReuse(None, metrics, per_tenant=True)
    assert scoped.keys_for(INFO, job) != scoped.keys_for(INFO, other)
    assert scoped.keys_for(INFO, dataclasses.replace(job, tenant=None)) == shared.keys_for(
        INFO, job)
