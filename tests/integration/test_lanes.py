"""Lanes, tenants and the intake window on the real broker (tiny model, in-process worker)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from mtq.client.declare import declare_all
from mtq.core.intake_rule import WindowRule
from mtq.core.settings import Settings
from mtq.core.topology import interactive_queue, interactive_routing_key, job_queue
from mtq.tools.tiny_corpus import generated_sentences
from tests.harness import consumers, vhost_of
from tests.integration.helpers import drain_results, make_job, publish_jobs, publish_raw
from worker.app import Worker
from worker.engines.hf import HFEngine

pytestmark = pytest.mark.integration
CALLBACK = "https://client.example/hooks/mt"


def lane_settings(amqp_url: str, model: Path, **changes: object) -> Settings:
    base = Settings(amqp_url=amqp_url, model=str(model), routes=("en-de",), metrics_port=0,
                    batch_max_wait_ms=5, drain_timeout_s=30)
    return base.replace(**changes)


def test_an_interactive_job_overtakes_a_bulk_backlog(amqp_url: str, tiny_model_path: Path
                                                      ) -> None:
    settings = lane_settings(amqp_url, tiny_model_path, intake_segments=0, prefetch=16,
                             max_batch_segments=16)
    asyncio.run(declare_all(settings))
    sentences = list(generated_sentences(600, seed=5))
    bulk = [make_job(f"bulk-{n}", sentences[n * 15:(n + 1) * 15], CALLBACK) for n in range(40)]
    publish_jobs(amqp_url, bulk)
    chat = make_job("chat", ["Where is my order?"], CALLBACK, tenant="acme")
    publish_raw(amqp_url, [json.dumps(chat).encode()], route=interactive_routing_key("en-de"))

    code = asyncio.run(Worker(settings, HFEngine(settings)).run(burst=True, health=False))

    assert code == 0
    order = [json.loads(body) for _, body in drain_results(amqp_url)]
    ids = [event["job_id"] for event in order]
    assert sorted(ids) == sorted(["chat", *(job["job_id"] for job in bulk)])
    # Published after 600 bulk segments, it completes among the first few jobs.
    assert ids.index("chat") < 8, ids
    chat_event = order[ids.index("chat")]
    assert chat_event["type"] == "job.completed"
    assert chat_event["tenant"] == "acme"
    assert all("tenant" not in event for event in order if event["job_id"] != "chat")


def test_the_intake_window_follows_job_sizes(amqp_url: str, tiny_model_path: Path) -> None:
    settings = lane_settings(amqp_url, tiny_model_path, intake_segments=32, prefetch=4,
                             prefetch_max=64, interactive_prefetch=5)
    rule = WindowRule.from_settings(settings)
    asyncio.run(declare_all(settings))
    vhost = vhost_of(amqp_url)
    sentences = list(generated_sentences(200, seed=9))

    def prefetch_of(queue: str) -> list[int]:
        return [int(c["prefetch_count"]) for c in consumers(vhost) if c["queue_name"] == queue]

    async def trickle(prefix: str, segments: int, want: int) -> None:
        """Publish jobs of ``segments`` segments until the bulk consumer has ``want``."""
        for n in range(400):
            job = make_job(f"{prefix}-{n}", sentences[:segments], CALLBACK)
            await asyncio.to_thread(publish_jobs, amqp_url, [job])
            if n % 5 == 4 and await asyncio.to_thread(prefetch_of, job_queue("en-de")) == [want]:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"the bulk window never reached {want}: "
                             f"{prefetch_of(job_queue('en-de'))}")

    async def scenario() -> None:
        worker = Worker(settings, HFEngine(settings))
        task = asyncio.create_task(worker.run(health=False))
        for _ in range(300):
            if await asyncio.to_thread(prefetch_of, job_queue("en-de")) == [4]:
                break
            await asyncio.sleep(0.1)
        assert await asyncio.to_thread(prefetch_of, interactive_queue("en-de")) == [5]
        await trickle("one", 1, rule.window_for(1))  # small jobs: the window grows
        assert rule.window_for(1) == 33
        await trickle("forty", 40, rule.window_for(40))  # large jobs: it shrinks to the floor
        assert rule.window_for(40) == 2
        # The interactive lane keeps its own prefetch throughout.
        assert await asyncio.to_thread(prefetch_of, interactive_queue("en-de")) == [5]
        worker.request_stop()
        assert await asyncio.wait_for(task, 120) == 0

    asyncio.run(scenario())
