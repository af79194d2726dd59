"""The whole path: publish → worker → mtq.results → dispatcher → signed POST on loopback."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from mtq.client.declare import declare_all
from mtq.core.events import webhook_id
from mtq.core.settings import Settings
from mtq.tools.tiny_corpus import generated_sentences
from tests.harness import TEST_SECRET, LoopbackReceiver, queue_depth
from tests.integration.helpers import make_job, publish_jobs
from webhooks.dispatcher import run_dispatcher
from worker.app import Worker
from worker.engines.hf import HFEngine

pytestmark = pytest.mark.integration


def test_every_job_ends_in_a_verified_webhook(
    amqp_url: str, tiny_model_path: Path, webhook_receiver: LoopbackReceiver
) -> None:
    port = webhook_receiver.port
    settings = Settings(
        amqp_url=amqp_url, model=str(tiny_model_path), routes=("en-de",), metrics_port=0,
        batch_max_wait_ms=5, webhook_secret=(TEST_SECRET,),
        webhook_allow_networks=("127.0.0.0/8",), webhook_allow_ports=(port,),
        webhook_retry_schedule_s=(1, 2),
    )
    asyncio.run(declare_all(settings))
    rng = random.Random(5)
    sentences = list(generated_sentences(300, seed=9))
    jobs = [
        make_job(f"mix-{n}", rng.sample(sentences, rng.randint(1, 3)), webhook_receiver.url,
                 metadata={"n": n, "tags": ["a", "b"]})
        for n in range(20)
    ]
    jobs.append(make_job("mix-big", sentences[:120], webhook_receiver.url))
    jobs.append(make_job("mix-invalid", ["x"], webhook_receiver.url, options={"beam_size": 99}))
    publish_jobs(amqp_url, jobs)
    engine = HFEngine(settings)

    async def scenario() -> None:
        stop = asyncio.Event()
        dispatcher = asyncio.create_task(
            run_dispatcher(settings, stop=stop, handle_signals=False)
        )
        await Worker(settings, engine).run(burst=True, health=False)
        await asyncio.to_thread(webhook_receiver.wait_for, len(jobs), 120)
        stop.set()
        assert await asyncio.wait_for(dispatcher, 60) == 0

    asyncio.run(scenario())

    verifier = Webhook(TEST_SECRET)
    by_job = {}
    for hook in webhook_receiver.received:
        event = verifier.verify(hook.body, hook.headers)  # raises on a bad signature
        assert hook.headers["webhook-id"] == webhook_id(event["job_id"], event["type"])
        by_job[event["job_id"]] = event
    assert set(by_job) == {job["job_id"] for job in jobs}
    for job in jobs[:-1]:
        event = by_job[job["job_id"]]
        assert event["type"] == "job.completed"
        assert len(event["translations"]) == len(job["segments"])
        assert event["metadata"] == job["metadata"]
    failed = by_job["mix-invalid"]
    assert failed["type"] == "job.failed" and failed["error"]["code"] == "invalid_job"
    assert json.loads(webhook_receiver.received[0].body)  # bodies are plain JSON
    assert queue_depth(amqp_url, "mtq.results") == 0
    assert queue_depth(amqp_url, "mtq.jobs.en-de") == 0
