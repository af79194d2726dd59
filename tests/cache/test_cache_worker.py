"""The cache and in-flight dedup in the real worker, on the real broker and the tiny model."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mtq.client.declare import declare_all
from mtq.core.settings import Settings
from mtq.tools.tiny_corpus import generated_sentences
from tests.cache.redis_server import RedisServer
from tests.harness import publish_jobs, take_results
from tests.integration.helpers import worker_settings
from worker.app import Worker
from worker.engines import Engine
from worker.engines.hf import HFEngine

pytestmark = pytest.mark.integration
CALLBACK = "https://client.example/hooks/mt"
OPTIONS = {"beam_size": 2, "max_new_tokens": 8}


def settings_for(amqp_url: str, model: Path, **changes: Any) -> Settings:
    # A generous cache timeout: on a loaded test machine a healthy Redis must not look slow.
    return worker_settings(amqp_url, model, **{"cache_timeout_ms": 5000, **changes})


def job(job_id: str, segments: list[str]) -> dict[str, Any]:
    return {"job_id": job_id, "source_lang": "en", "target_lang": "de", "segments": segments,
            "callback_url": CALLBACK, "options": OPTIONS}


class Running:
    """A worker running in this event loop; jobs in, results out, metrics read directly."""

    def __init__(self, worker: Worker, amqp_url: str) -> None:
        self.worker = worker
        self.amqp_url = amqp_url
        self.events: dict[str, dict[str, Any]] = {}

    def metric(self, name: str) -> float:
        return self.worker.registry.get_sample_value(name) or 0.0

    async def submit(
        self, jobs: list[dict[str, Any]], timeout: float = 120
    ) -> list[dict[str, Any]]:
        """Publish ``jobs`` and wait for every one of their results, returned in order."""
        await asyncio.to_thread(publish_jobs, self.amqp_url, jobs)
        wanted = [j["job_id"] for j in jobs]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not all(w in self.events for w in wanted):
            assert loop.time() < deadline, f"results missing for {set(wanted) - set(self.events)}"
            for event in await asyncio.to_thread(take_results, self.amqp_url):
                self.events[event["job_id"]] = event
            await asyncio.sleep(0.05)
        return [self.events[w] for w in wanted]


@contextlib.asynccontextmanager
async def running(settings: Settings, engine: Engine) -> AsyncIterator[Running]:
    await declare_all(settings)
    worker = Worker(settings, engine)
    task = asyncio.ensure_future(worker.run(health=False))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    while not worker.is_ready():
        assert not task.done(), "the worker stopped before it was ready"
        assert loop.time() < deadline, "the worker was not ready in 120 s"
        await asyncio.sleep(0.05)
    try:
        yield Running(worker, settings.amqp_url)
    finally:
        worker.request_stop()
        assert await asyncio.wait_for(task, 120) == 0


def sentences(count: int, seed: int) -> list[str]:
    return list(dict.fromkeys(generated_sentences(count * 2, seed=seed)))[:count]


def test_a_second_pass_under_new_ids_comes_from_the_cache(
    amqp_url: str, tiny_model_path: Path, engine: Engine
) -> None:
    texts = sentences(24, seed=5)
    first = [job(f"first-{n}", texts[n * 6 : n * 6 + 6]) for n in range(4)]
    second = [job(f"second-{n}", texts[n * 6 : n * 6 + 6]) for n in range(4)]

    async def scenario() -> None:
        async with running(settings_for(amqp_url, tiny_model_path), engine) as run:
            before = await run.submit(first)
            tokens = run.metric("mtq_generated_tokens_total")
            assert tokens > 0
            assert all(e["stats"]["cached_segments"] == 0 for e in before)
            after = await run.submit(second)
            assert run.metric("mtq_generated_tokens_total") == tokens  # no new tokens
            for old, new in zip(before, after, strict=True):
                assert new["type"] == "job.completed"
                assert new["translations"] == old["translations"]
                assert new["stats"]["cached_segments"] == len(new["translations"])
            assert run.metric("mtq_cache_hits_total") == len(texts)

    asyncio.run(scenario())


def test_a_repeated_segment_inside_one_job_is_computed_once(
    amqp_url: str, tiny_model_path: Path, engine: Engine
) -> None:
    a, b, c = sentences(3, seed=9)
    settings = settings_for(amqp_url, tiny_model_path, cache="off")

    async def scenario() -> None:
        async with running(settings, engine) as run:
            (event,) = await run.submit([job("repeats", [a, b, a, a, c, b])])
            assert event["type"] == "job.completed"
            out = event["translations"]
            assert out[0] == out[2] == out[3] and out[1] == out[5]
            assert run.metric("mtq_segments_total") == 3  # a, b and c reached the model
            assert run.metric("mtq_dedup_saved_segments_total") == 3
            assert event["stats"]["cached_segments"] == 0

    asyncio.run(scenario())


def test_identical_segments_of_jobs_in_flight_together_are_computed_once(
    amqp_url: str, tiny_model_path: Path, engine: Engine
) -> None:
    texts = sentences(8, seed=21)
    jobs = [job(f"copy-{n}", texts) for n in range(5)]  # published together, one backlog
    settings = settings_for(amqp_url, tiny_model_path, cache="off", batch_max_wait_ms=200)

    async def scenario() -> None:
        async with running(settings, engine) as run:
            events = await run.submit(jobs)
            assert all(e["translations"] == events[0]["translations"] for e in events)
            computed = run.metric("mtq_segments_total")
            saved = run.metric("mtq_dedup_saved_segments_total")
            assert computed + saved == 5 * len(texts)
            assert saved > 0

    asyncio.run(scenario())


def test_workers_on_one_redis_share_entries_across_restarts_and_revisions(
    amqp_url: str, redis_url: str, tiny_model_path: Path, engine: Engine
) -> None:
    texts = sentences(12, seed=33)
    settings = settings_for(amqp_url, tiny_model_path, cache=redis_url)

    async def scenario() -> None:
        async with running(settings, engine) as run:
            (computed,) = await run.submit([job("w1", texts)])
            assert computed["stats"]["cached_segments"] == 0
        # Another worker (or the same one restarted) on the same Redis: every segment is a hit.
        async with running(settings, engine) as run:
            (cached,) = await run.submit([job("w2", texts)])
            assert cached["translations"] == computed["translations"]
            assert cached["stats"]["cached_segments"] == len(texts)
            assert run.metric("mtq_generated_tokens_total") == 0
        # A new model revision never returns the old revision's entries.
        newer = settings.replace(model_revision="next-revision")
        async with running(newer, HFEngine(newer)) as run:
            (fresh,) = await run.submit([job("w3", texts)])
            assert fresh["stats"]["cached_segments"] == 0
            assert fresh["model"]["revision"] == "next-revision"
            assert run.metric("mtq_generated_tokens_total") > 0

    asyncio.run(scenario())


def test_redis_stopped_mid_run_every_job_completes_then_hits_resume(
    amqp_url: str, tiny_model_path: Path, engine: Engine, tmp_path: Path
) -> None:
    """The test's own redis-server is killed and restarted; the machine's is never touched."""
    server = RedisServer(tmp_path)
    server.start()
    texts = sentences(30, seed=41)
    settings = settings_for(amqp_url, tiny_model_path, cache=server.url())

    async def scenario() -> None:
        async with running(settings, engine) as run:
            await run.submit([job("up-1", texts[:10])])
            (hit,) = await run.submit([job("up-2", texts[:10])])
            assert hit["stats"]["cached_segments"] == 10
            server.kill()
            down = await run.submit([job(f"down-{n}", texts[n : n + 10]) for n in range(8)])
            assert all(e["type"] == "job.completed" for e in down)
            assert all(e["stats"]["cached_segments"] == 0 for e in down)
            assert run.metric("mtq_cache_errors_total") >= 1
            server.start()  # empty: no persistence
            for attempt in range(300):
                (again,) = await run.submit([job(f"back-{attempt}", texts[20:30])])
                if again["stats"]["cached_segments"] == 10:
                    break
                await asyncio.sleep(0.1)  # the breaker probes again after its backoff
            assert again["stats"]["cached_segments"] == 10, "hits did not resume"

    try:
        asyncio.run(scenario())
    finally:
        server.kill()
