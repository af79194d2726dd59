"""Oversized work: jobs never wait into RabbitMQ's consumer timeout.

The broker closes the whole channel when one delivery stays unacked past ``consumer_timeout``,
which would cost every job the worker holds a delivery. The worker hands back jobs that have
not started by half of it (``MTQ_CONSUMER_TIMEOUT_S``), so another worker takes them; job size
limits bound the rest (docs/reliability.md has the arithmetic).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from mtq.core.settings import Settings
from tests.faults.conftest import MARKER, declare
from tests.faults.faulty_engine import FaultyEngine
from tests.harness import queue_depth
from tests.integration.helpers import events_by_job, make_job, publish_jobs
from worker.app import Worker
from worker.engines.hf import HFEngine

pytestmark = pytest.mark.integration
CALLBACK = "https://client.example/hooks/mt"


def test_jobs_not_started_by_half_the_consumer_timeout_are_handed_back(
    amqp_url: str, tiny_model_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        amqp_url=amqp_url, model=str(tiny_model_path), metrics_port=0, batch_max_wait_ms=5,
        prefetch=4, intake_segments=0, consumer_timeout_s=3,
    )
    declare(amqp_url)
    publish_jobs(amqp_url, [make_job("long", [f"Slow {MARKER}:sleep=2.5 batch."], CALLBACK,
                                     options={"beam_size": 1, "max_new_tokens": 8})])

    async def scenario() -> int:
        worker = Worker(settings, FaultyEngine(HFEngine(settings)))
        task = asyncio.create_task(worker.run(burst=True, health=False))
        while not worker._inference.busy:  # the long batch is on the engine
            assert not task.done()
            await asyncio.sleep(0.02)
        await asyncio.to_thread(publish_jobs, amqp_url, [
            make_job(f"waiting-{n}", ["Hello world."], CALLBACK) for n in range(3)
        ])
        return await asyncio.wait_for(task, 60)

    with caplog.at_level(logging.INFO, logger="worker.lifecycle.recovery"):
        assert asyncio.run(scenario()) == 0

    handed_back = [r.getMessage() for r in caplog.records if "handing it back" in r.getMessage()]
    assert len(handed_back) == 3, handed_back
    assert all(m.startswith("job waiting-") for m in handed_back)
    events = events_by_job(amqp_url)
    assert {job: e["type"] for job, e in events.items()} == dict.fromkeys(
        ["long", "waiting-0", "waiting-1", "waiting-2"], "job.completed"
    )
    assert queue_depth(amqp_url, "mtq.jobs.en-de") == 0
