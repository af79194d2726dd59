"""Cancel and progress end to end: a real RabbitMQ (a vhost per test), the worker on the tiny
random-weight model, the dispatcher, a loopback receiver verifying every signature, and (for
the shared cancel store) a private Redis."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pika
import pytest

from mtq.client.declare import declare_all
from mtq.core import result_batch
from mtq.core.contract import DecodeOptions
from mtq.core.control import CancelRequest
from mtq.core.settings import Settings
from mtq.core.topology import (
    CONTROL_EXCHANGE,
    CONTROL_QUEUE,
    PROGRESS_ROUTING_KEY,
    RESULTS_EXCHANGE,
    RESULTS_ROUTING_KEY,
)
from mtq.tools.tiny_corpus import generated_sentences
from tests.cache.redis_server import RedisServer
from tests.harness import TEST_SECRET, LoopbackReceiver, drain_queue, queue_depth, wait_until
from tests.integration.helpers import make_job, publish_jobs, worker_settings
from webhooks.dispatcher import run_dispatcher
from worker.app import Worker
from worker.engines.hf import HFEngine

pytestmark = pytest.mark.integration
OPTIONS = {"beam_size": 2, "max_new_tokens": 8}


def control_settings(amqp_url: str, model: Path, receiver: LoopbackReceiver,
                     **changes: Any) -> Settings:
    return worker_settings(
        amqp_url, model, webhook_secret=(TEST_SECRET,), webhook_allow_networks=("127.0.0.0/8",),
        webhook_allow_ports=(receiver.port,), webhook_retry_schedule_s=(1, 2), cache="off",
        max_job_segments=2000, max_job_tokens=200_000, device="cpu", dtype="float32",
        torch_threads=1, **changes,
    )


def publish_control(amqp_url: str, bodies: Sequence[bytes]) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for body in bodies:
            channel.basic_publish(CONTROL_EXCHANGE, "", body,
                                  pika.BasicProperties(content_type="application/json"))
    finally:
        connection.close()


def hooks(receiver: LoopbackReceiver, job_id: str, kind: str) -> list[dict[str, Any]]:
    return [r.event for r in receiver.received  # type: ignore[misc]
            if r.event is not None and r.event["job_id"] == job_id and r.event["type"] == kind]


def final(receiver: LoopbackReceiver, job_id: str) -> dict[str, Any] | None:
    found = [e for kind in ("job.completed", "job.cancelled", "job.failed")
             for e in hooks(receiver, job_id, kind)]
    return found[0] if found else None


def reference(engine: HFEngine, segments: Sequence[str]) -> list[str]:
    """The same segments decoded by the same model, without a cancel (batch-invariant: see
    tests/integration/test_fidelity.py)."""
    options = DecodeOptions(**OPTIONS)
    out: list[str] = []
    for start in range(0, len(segments), 32):
        ids = engine.encode(list(segments[start:start + 32]))
        out += engine.decode(engine.generate(ids, options))
    return out


async def run_until(settings: Settings, engine: HFEngine, steps: Callable[[Worker], Any],
                    ) -> Worker:
    """A worker and a dispatcher running while ``steps(worker)`` (blocking) runs."""
    stop = asyncio.Event()
    dispatcher = asyncio.create_task(run_dispatcher(settings, stop=stop, handle_signals=False))
    worker = Worker(settings, engine)
    running = asyncio.create_task(worker.run(health=False))
    try:
        await asyncio.to_thread(steps, worker)
    finally:
        worker.request_stop()
        assert await asyncio.wait_for(running, 60) == 0
        stop.set()
        assert await asyncio.wait_for(dispatcher, 60) == 0
    return worker


def test_a_big_job_cancelled_after_its_first_progress_keeps_what_finished(
    amqp_url: str, tiny_model_path: Path,
) -> None:
    with LoopbackReceiver(secret=TEST_SECRET) as receiver:
        settings = control_settings(amqp_url, tiny_model_path, receiver,
                                    progress_interval_s=0.2, progress_max_events=50,
                                    max_batch_segments=16)
        asyncio.run(declare_all(settings))
        sentences = list(generated_sentences(2060, seed=11))
        big = make_job("big", sentences[:2000], receiver.url,
                       options={**OPTIONS, "progress": True})
        mates = [make_job(f"mate-{n}", sentences[2000 + 10 * n:2010 + 10 * n], receiver.url)
                 for n in range(6)]
        publish_jobs(amqp_url, [big, *mates])
        engine = HFEngine(settings)

        def steps(worker: Worker) -> None:
            assert wait_until(lambda: hooks(receiver, "big", "job.progress"), 120)
            publish_control(amqp_url, [CancelRequest("big").encode()])
            assert wait_until(lambda: all(final(receiver, j["job_id"]) for j in [big, *mates]),
                              120)

        worker = asyncio.run(run_until(settings, engine, steps))

        cancelled = final(receiver, "big")
        assert cancelled is not None and cancelled["type"] == "job.cancelled"
        translations = cancelled["translations"]
        kept = [i for i, text in enumerate(translations) if text is not None]
        assert cancelled["total"] == 2000 and cancelled["done"] == len(kept)
        assert 0 < len(kept) < 2000  # the engine translated fewer than 2,000 of its segments
        dropped = worker.metrics.segments_dropped_total._value.get()
        assert dropped == 2000 - len(kept)
        assert worker.metrics.segments_total._value.get() < 2060
        expected = reference(engine, [sentences[i] for i in kept])
        assert [translations[i] for i in kept] == expected  # as an uncancelled run has them
        for mate in mates:  # batch-mates: completed, as without the cancel
            event = final(receiver, mate["job_id"])
            assert event is not None and event["type"] == "job.completed"
            assert event["translations"] == reference(engine, mate["segments"])
        progress = [e["done"] for e in hooks(receiver, "big", "job.progress")]
        assert progress == sorted(set(progress)) and progress[-1] <= cancelled["done"]
        assert all(e["total"] == 2000 for e in hooks(receiver, "big", "job.progress"))
        cancels = worker.metrics.jobs_cancelled_total.labels(stage="running")._value.get()
        assert cancels == 1


def test_cancels_before_the_job_after_it_unknown_and_malformed(
    amqp_url: str, tiny_model_path: Path, tmp_path: Path,
) -> None:
    with LoopbackReceiver(secret=TEST_SECRET) as receiver, RedisServer(tmp_path) as redis:
        settings = control_settings(amqp_url, tiny_model_path, receiver,
                                    cancel_store=redis.url())
        asyncio.run(declare_all(settings))
        engine = HFEngine(settings)
        malformed = [b"\xff\xfe", b"[1, 2]", b'{"type": "job.cancel"}',
                     b'{"type": "job.cancel", "job_id": "x", "extra": 1}']
        # Before any worker runs: cancels kept in mtq.control.pending, and one of the jobs.
        publish_control(amqp_url, [CancelRequest("early").encode(),
                                   CancelRequest("later", "acme").encode(), *malformed])
        publish_jobs(amqp_url, [make_job("early", ["One.", "Two."], receiver.url),
                                make_job("normal", ["Three.", "Four."], receiver.url)])

        def first_worker(worker: Worker) -> None:
            assert wait_until(lambda: final(receiver, "early") and final(receiver, "normal"), 60)
            # After the job completed, and for a job nobody ever sent: no-ops.
            publish_control(amqp_url, [CancelRequest("normal").encode(),
                                       CancelRequest("ghost").encode()])
            remembered = worker.metrics.control_messages_total.labels(outcome="remembered")
            assert wait_until(lambda: remembered._value.get() >= 2 + 4, 30)  # each twice

        one = asyncio.run(run_until(settings, engine, first_worker))
        early, normal = final(receiver, "early"), final(receiver, "normal")
        assert early == {**early, "type": "job.cancelled", "translations": [None, None],  # type: ignore[dict-item]
                         "done": 0, "total": 2}
        assert normal is not None and normal["type"] == "job.completed"
        assert one.metrics.control_messages_total.labels(outcome="invalid")._value.get() == 4
        assert one.metrics.jobs_total.labels(outcome="cancelled")._value.get() == 1
        assert queue_depth(amqp_url, CONTROL_QUEUE) == 0

        # A job arriving later, at a worker that never saw its cancel: the shared store has it.
        publish_jobs(amqp_url, [make_job("later", ["Five."], receiver.url, tenant="acme"),
                                make_job("after", ["Six."], receiver.url)])

        def second_worker(worker: Worker) -> None:
            assert wait_until(lambda: final(receiver, "later") and final(receiver, "after"), 60)

        two = asyncio.run(run_until(settings, engine, second_worker))
        later, after = final(receiver, "later"), final(receiver, "after")
        assert later is not None and later["type"] == "job.cancelled"
        assert later["tenant"] == "acme" and later["translations"] == [None]
        assert after is not None and after["type"] == "job.completed"
        assert two.metrics.jobs_cancelled_total.labels(stage="waiting")._value.get() == 1
        normal_hooks = [r.event["type"] for r in receiver.received  # type: ignore[index]
                        if r.event and r.event["job_id"] == "normal"]
        assert normal_hooks == ["job.completed"]  # the cancel after completion changed nothing


def test_progress_webhooks_only_when_asked_and_throttled(
    amqp_url: str, tiny_model_path: Path,
) -> None:
    interval = 0.3
    with LoopbackReceiver(secret=TEST_SECRET) as receiver:
        settings = control_settings(amqp_url, tiny_model_path, receiver,
                                    progress_interval_s=interval, progress_max_events=5,
                                    max_batch_segments=16)
        asyncio.run(declare_all(settings))
        gateway = "gateway-under-test"  # what the gateway's own queue on mtq.results sees
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        channel = connection.channel()
        channel.queue_declare(gateway, durable=True)
        for key in (RESULTS_ROUTING_KEY, PROGRESS_ROUTING_KEY):  # every event, as documented
            channel.queue_bind(gateway, RESULTS_EXCHANGE, routing_key=key)
        connection.close()
        sentences = list(generated_sentences(600, seed=4))
        publish_jobs(amqp_url, [
            make_job("loud", sentences[:300], receiver.url, options={**OPTIONS, "progress": True}),
            make_job("quiet", sentences[300:], receiver.url, options=OPTIONS),
        ])
        engine = HFEngine(settings)

        def steps(worker: Worker) -> None:
            assert wait_until(lambda: final(receiver, "loud") and final(receiver, "quiet"), 120)
            time.sleep(0.5)  # late progress webhooks would show up now

        worker = asyncio.run(run_until(settings, engine, steps))

    assert hooks(receiver, "quiet", "job.progress") == []
    loud = [r for r in receiver.received if r.event and r.event["type"] == "job.progress"]
    assert loud and all(r.event["job_id"] == "loud" for r in loud)  # type: ignore[index]
    gaps = [b.arrived - a.arrived for a, b in itertools.pairwise(loud)]
    assert all(gap > interval / 2 for gap in gaps), gaps  # one per interval at most
    seen: dict[str, list[int]] = {"loud": [], "quiet": []}
    for headers, body in drain_queue(amqp_url, gateway):
        for _, part in result_batch.events(headers, body):
            event = json.loads(part)
            if event["type"] == "job.progress":
                seen[event["job_id"]].append(event["done"])
    for job_id, done in seen.items():
        assert 1 <= len(done) <= 5, (job_id, done)  # never more than MTQ_PROGRESS_MAX_EVENTS
        assert done == sorted(set(done)) and all(0 < d < 300 for d in done)
        assert all(b - a >= 50 for a, b in itertools.pairwise([0, *done]))  # 1/6 of it apart
    assert [r.event["done"] for r in loud] == seen["loud"]  # type: ignore[index]
    assert worker.metrics.progress_events_total._value.get() == len(seen["loud"]) + len(
        seen["quiet"])
    # The dispatcher's queue never carried the quiet job's progress (no webhook, no cost).
    assert worker.metrics.result_events_per_message._sum.get() == len(seen["loud"]) + 2
