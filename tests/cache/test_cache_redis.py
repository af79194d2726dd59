"""The translation cache against a real Redis: sharing, restarts, revisions, outages."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry

from mtq.core.contract import DecodeOptions
from mtq.core.events import ModelInfo
from tests.cache.redis_server import RedisServer
from worker.cache import CacheMetrics, CacheScope, SegmentReuse, open_cache
from worker.cache.backends import MAX_VALUE_BYTES, RedisCache
from worker.cache.guard import CircuitBreaker, GuardedCache

pytestmark = pytest.mark.integration

INFO = ModelInfo(name="tiny", revision="sha256:aaaa")
SCOPE = CacheScope.of(INFO, "en", "de", DecodeOptions(beam_size=2, max_new_tokens=8))
TEXTS = ["Hello world.", "The cat sleeps.", "Hello world.", "Good morning."]


def translate(text: str) -> str:
    """Stands in for the model: deterministic, like beam search."""
    return text[::-1]


def reuse_for(url: str, registry: CollectorRegistry | None = None) -> SegmentReuse:
    metrics = CacheMetrics(registry or CollectorRegistry())
    return SegmentReuse(open_cache(url, max_mb=1, ttl_s=3600, metrics=metrics), metrics)


async def run_job(
    reuse: SegmentReuse, scope: CacheScope, texts: list[str]
) -> tuple[list[str], int]:
    """A job as the worker runs it: look up, compute the misses, store them; (output, hits)."""
    keys = scope.keys(texts)
    hits = await reuse.lookup(dict(enumerate(keys)))
    fresh = {keys[i]: translate(t) for i, t in enumerate(texts) if i not in hits}
    await reuse.store(fresh)
    return [hits.get(i, translate(t)) for i, t in enumerate(texts)], len(hits)


def test_two_workers_share_entries(redis_url: str) -> None:
    async def scenario() -> None:
        first, second = reuse_for(redis_url), reuse_for(redis_url)
        try:
            translations, hits = await run_job(first, SCOPE, TEXTS)
            assert hits == 0
            again, hits = await run_job(second, SCOPE, TEXTS)
            assert hits == len(TEXTS) and again == translations
        finally:
            await first.aclose()
            await second.aclose()

    asyncio.run(scenario())


def test_a_restarted_worker_keeps_its_hits(redis_url: str) -> None:
    async def before() -> list[str]:
        reuse = reuse_for(redis_url)
        try:
            return (await run_job(reuse, SCOPE, TEXTS))[0]
        finally:
            await reuse.aclose()

    async def after() -> tuple[list[str], int]:
        reuse = reuse_for(redis_url)  # a new process would start exactly like this
        try:
            return await run_job(reuse, SCOPE, TEXTS)
        finally:
            await reuse.aclose()

    translations = asyncio.run(before())
    again, hits = asyncio.run(after())
    assert hits == len(TEXTS) and again == translations


def test_a_changed_model_revision_misses(redis_url: str) -> None:
    newer = dataclasses.replace(SCOPE, revision="sha256:bbbb")

    async def scenario() -> None:
        reuse = reuse_for(redis_url)
        try:
            await run_job(reuse, SCOPE, TEXTS)
            assert (await run_job(reuse, newer, TEXTS))[1] == 0
            assert (await run_job(reuse, newer, TEXTS))[1] == len(TEXTS)
            assert (await run_job(reuse, SCOPE, TEXTS))[1] == len(TEXTS)  # the old one stays
        finally:
            await reuse.aclose()

    asyncio.run(scenario())


def test_entries_carry_the_ttl_and_oversized_values_are_not_stored(redis_url: str) -> None:
    backend = RedisCache(redis_url, ttl_s=120, timeout_s=1.0)
    keys = SCOPE.keys(["small", "huge"])

    async def scenario() -> list[str | None]:
        try:
            await backend.put_many({keys[0]: "klein", keys[1]: "x" * (MAX_VALUE_BYTES + 1)})
            return await backend.get_many(keys)
        finally:
            await backend.aclose()

    assert asyncio.run(scenario()) == ["klein", None]
    client = redis.Redis.from_url(redis_url)
    try:
        assert 0 < client.ttl(keys[0]) <= 120
        assert client.exists(keys[1]) == 0
        assert client.get(keys[0]) == b"klein"  # the text itself, nothing else
    finally:
        client.close()


def test_redis_stopped_mid_run_every_job_completes_then_hits_resume(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker's own Redis (never the machine's) is killed between jobs and restarted."""
    registry = CollectorRegistry()
    metrics = CacheMetrics(registry)
    server = RedisServer(tmp_path)
    server.start()
    backend = RedisCache(server.url(), ttl_s=3600, timeout_s=0.5)
    guard = GuardedCache(
        backend, timeout_s=0.5, breaker=CircuitBreaker(base_backoff_s=0.05, max_backoff_s=0.2),
        on_error=metrics.errors_total.inc,
    )
    reuse = SegmentReuse(guard, metrics)
    jobs = [[f"segment {n % 5}", f"unique {n}"] for n in range(30)]

    async def scenario() -> list[list[str]]:
        results = []
        try:
            for number, texts in enumerate(jobs):
                if number == 10:
                    server.kill()
                if number == 20:
                    server.start()  # same port, empty (no persistence)
                results.append((await run_job(reuse, SCOPE, texts))[0])
            # Hits resume once the breaker's next probe finds the server again.
            for _ in range(200):
                if (await run_job(reuse, SCOPE, TEXTS))[1] == len(TEXTS):
                    return results
                await asyncio.sleep(0.05)
            raise AssertionError("no cache hits after Redis came back")
        finally:
            await reuse.aclose()

    try:
        with caplog.at_level(logging.INFO, logger="worker.cache.guard"):
            results = asyncio.run(scenario())
    finally:
        server.kill()
    assert results == [[translate(t) for t in texts] for texts in jobs]
    assert (registry.get_sample_value("mtq_cache_errors_total") or 0) >= 1
    outages = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(outages) == 1
    assert any("answers again" in r.getMessage() for r in caplog.records)


def test_a_cache_that_never_answers_costs_a_timeout_then_nothing(tmp_path: Path) -> None:
    """A server that accepts connections and never replies: lookups time out into misses."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    registry = CollectorRegistry()
    metrics = CacheMetrics(registry)
    backend = RedisCache(f"redis://127.0.0.1:{port}/0", ttl_s=60, timeout_s=0.2)
    guard = GuardedCache(backend, timeout_s=0.2, on_error=metrics.errors_total.inc)
    reuse = SegmentReuse(guard, metrics)

    async def scenario() -> list[tuple[list[str], int]]:
        try:
            return [await run_job(reuse, SCOPE, TEXTS) for _ in range(20)]
        finally:
            await reuse.aclose()

    try:
        results = asyncio.run(scenario())
    finally:
        listener.close()
    assert all(r == ([translate(t) for t in TEXTS], 0) for r in results)
    # The breaker stays open: the jobs after the first never wait on the silent server again.
    assert guard.breaker.is_open
    assert registry.get_sample_value("mtq_cache_errors_total") == 1
