"""The worker against the real broker and the real model-loading path (tiny model)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from pathlib import Path

import pika
import pika.exceptions
import pytest

from mtq.client.declare import declare_all
from mtq.core.settings import Settings
from mtq.core.topology import dead_letter_queue
from mtq.tools.tiny_corpus import generated_sentences
from tests.faults.faulty_engine import FaultyEngine
from tests.harness import queue_depth, rabbitmqctl, vhost_of
from tests.integration.helpers import (
    drain_queue,
    events_by_job,
    make_job,
    publish_jobs,
    publish_raw,
    worker_settings,
)
from worker.app import Worker
from worker.engines import Engine

pytestmark = pytest.mark.integration
CALLBACK = "https://client.example/hooks/mt"


def run_burst(settings: Settings, engine: Engine) -> None:
    asyncio.run(declare_all(settings))
    code = asyncio.run(Worker(settings, engine).run(burst=True, health=False))
    assert code == 0


def test_mixed_jobs_all_complete_aligned_with_metadata(
    amqp_url: str, tiny_model_path: Path, engine: Engine
) -> None:
    settings = worker_settings(amqp_url, tiny_model_path)
    asyncio.run(declare_all(settings))
    rng = random.Random(7)
    sentences = list(generated_sentences(400, seed=11))
    jobs = []
    for number in range(30):
        count = rng.randint(1, 3)
        jobs.append(make_job(f"small-{number}", rng.sample(sentences, count), CALLBACK))
    jobs.append(make_job("large-1", sentences[:150], CALLBACK))
    jobs.append(make_job("large-2", [*sentences[150:250], "", "   "], CALLBACK))
    publish_jobs(amqp_url, jobs)

    run_burst(settings, engine)

    events = events_by_job(amqp_url)
    assert set(events) == {job["job_id"] for job in jobs}
    for job in jobs:
        event = events[job["job_id"]]
        assert event["type"] == "job.completed", event
        assert len(event["translations"]) == len(job["segments"])
        assert event["metadata"] == job["metadata"]
        assert event["stats"]["segments"] == len(job["segments"])
        assert event["model"]["name"] == tiny_model_path.name
        assert event["model"]["revision"].startswith("sha256:")
    assert events["large-2"]["translations"][-2:] == ["", ""]
    assert queue_depth(amqp_url, "mtq.jobs.en-de") == 0


def test_invalid_jobs_fail_and_garbage_is_dead_lettered_with_reason(
    amqp_url: str, tiny_model_path: Path, engine: Engine
) -> None:
    settings = worker_settings(amqp_url, tiny_model_path)
    asyncio.run(declare_all(settings))
    good = make_job("good-1", ["Hello world."], CALLBACK)
    too_many = make_job("too-many", ["x"] * (settings.max_job_segments + 1), CALLBACK)
    wrong_pair = make_job("wrong-pair", ["Hallo"], CALLBACK, target_lang="fr")
    bad_beam = make_job("bad-beam", ["Hi"], CALLBACK, options={"beam_size": 0})
    publish_raw(amqp_url, [
        b"not json at all",
        json.dumps(good).encode(),
        b"[1,2,3]",
        json.dumps(too_many).encode(),
        json.dumps({"job_id": "no-callback", "segments": ["x"]}).encode(),
        json.dumps(bad_beam).encode(),
    ])
    # A mismatched pair can only reach en-de by a mis-bound publisher; send it there anyway.
    publish_raw(amqp_url, [json.dumps(wrong_pair).encode()])

    run_burst(settings, engine)

    events = events_by_job(amqp_url)
    assert events["good-1"]["type"] == "job.completed"
    assert events["too-many"]["error"]["code"] == "job_too_large"
    assert events["wrong-pair"]["error"]["code"] == "unsupported_language_pair"
    assert events["bad-beam"]["error"]["code"] == "invalid_job"
    assert "beam_size" in events["bad-beam"]["error"]["message"]
    dead = drain_queue(amqp_url, dead_letter_queue("en-de"))
    reasons = sorted(headers["x-mtq-reason"] for headers, _ in dead)
    assert len(reasons) == 3
    assert any("not JSON" in r for r in reasons)
    assert any("not an object" in r for r in reasons)
    assert any("callback_url is missing" in r for r in reasons)


def test_one_failing_segment_fails_only_its_job(
    amqp_url: str, tiny_model_path: Path, engine: Engine
) -> None:
    settings = worker_settings(amqp_url, tiny_model_path)
    asyncio.run(declare_all(settings))
    sentences = list(generated_sentences(40, seed=3))
    jobs = [
        make_job("innocent-1", sentences[:10], CALLBACK),
        make_job("culprit", [*sentences[10:14], "boom FAULT:raise here", *sentences[14:18]],
                 CALLBACK),
        make_job("innocent-2", sentences[18:30], CALLBACK),
    ]
    publish_jobs(amqp_url, jobs)

    run_burst(settings, FaultyEngine(engine))

    events = events_by_job(amqp_url)
    assert events["innocent-1"]["type"] == "job.completed"
    assert events["innocent-2"]["type"] == "job.completed"
    assert events["culprit"]["type"] == "job.failed"
    assert events["culprit"]["error"]["code"] == "segment_failed"
    assert "segments[4]" in events["culprit"]["error"]["message"]


def test_a_job_is_acked_only_after_its_result_is_confirmed(
    amqp_url: str, tiny_model_path: Path, engine: Engine
) -> None:
    """While mtq.results refuses publishes the job stays unacked; once it accepts, it completes."""
    settings = worker_settings(amqp_url, tiny_model_path, result_publish_timeout_s=60)
    asyncio.run(declare_all(settings))
    vhost = vhost_of(amqp_url)
    # A full results queue (max-length 1, over it with fillers) nacks every further publish.
    rabbitmqctl("set_policy", "-p", vhost, "--apply-to", "queues",
                "results-full", "^mtq\\.results$", '{"max-length": 1}')
    filler = json.dumps({"type": "filler", "job_id": "filler"}).encode()
    fillers = _fill_until_refused(amqp_url, filler)
    publish_jobs(amqp_url, [make_job("held-1", ["Hello world."], CALLBACK)])

    async def scenario() -> None:
        worker = Worker(settings, engine)
        task = asyncio.create_task(worker.run(burst=True, health=False))
        def computed() -> bool:
            return bool(worker.jobs) and all(e.remaining == 0 for e in worker.jobs.values())

        for _ in range(400):
            if computed():
                break
            await asyncio.sleep(0.05)
        assert computed(), "the job should have been computed by now"
        await asyncio.sleep(1.0)  # several publishes are refused meanwhile
        assert all(not entry.delivery.settled for entry in worker.jobs.values())
        assert await asyncio.to_thread(queue_depth, amqp_url, "mtq.results") == fillers
        # Kill the worker: had it acked, the job would be gone; it must be back instead.
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert queue_depth(amqp_url, "mtq.jobs.en-de") == 1
    rabbitmqctl("clear_policy", "-p", vhost, "results-full")
    run_burst(settings, engine)
    events = events_by_job(amqp_url)
    assert events["held-1"]["type"] == "job.completed"
    assert queue_depth(amqp_url, "mtq.jobs.en-de") == 0


def _fill_until_refused(amqp_url: str, body: bytes) -> int:
    """Publish fillers until the broker nacks one (quorum overflow is checked lazily)."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for _ in range(50):
            try:
                channel.basic_publish("mtq.results", "mtq.results", body, mandatory=True)
            except pika.exceptions.NackError:
                return int(channel.queue_declare("mtq.results", passive=True).method.message_count)
            time.sleep(0.05)
        raise AssertionError("mtq.results never refused a publish")
    finally:
        connection.close()


class _UndecodableEngine:
    """The real engine, except that detokenizing fails (like ids a tokenizer cannot map)."""

    def __init__(self, inner: Engine) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def decode(self, outputs: object) -> list[str]:
        raise IndexError("piece id is out of range")


def test_a_result_that_cannot_be_assembled_is_answered_not_dropped(
    amqp_url: str, tiny_model_path: Path, engine: Engine
) -> None:
    settings = worker_settings(amqp_url, tiny_model_path)
    asyncio.run(declare_all(settings))
    publish_jobs(amqp_url, [make_job("undecodable", ["Hello world."], CALLBACK)])

    run_burst(settings, _UndecodableEngine(engine))  # type: ignore[arg-type]

    event = events_by_job(amqp_url)["undecodable"]
    assert event["type"] == "job.failed"
    assert event["error"]["code"] == "internal_error"
    assert queue_depth(amqp_url, "mtq.jobs.en-de") == 0
