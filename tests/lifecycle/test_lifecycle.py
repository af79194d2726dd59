"""The job lifecycle without a broker: intake, batching, completion, quarantine, drain and
the outbox's retry, driven through :class:`~worker.lifecycle.driver.Lifecycle` against an
in-memory broker (tests/lifecycle/broker_double.py) and a reversing stand-in model. Each test
takes milliseconds; the same paths against a real RabbitMQ are tests/integration and
tests/faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from mtq.core.settings import Settings
from tests.lifecycle.broker_double import InMemoryBroker, ReversingEngine
from worker.batching.fairness import Lane
from worker.batching.queue import BatchQueue
from worker.batching.scheduler import Scheduler
from worker.broker.message import Delivery
from worker.cache import SegmentReuse
from worker.compute.inference import InferenceThread, SegmentResult
from worker.engines.model_set import ModelSet
from worker.lifecycle.driver import Lifecycle
from worker.lifecycle.outcomes import Requeue
from worker.metrics import WorkerMetrics
from worker.tasks import TaskSet

SETTINGS = Settings(cache="off", batch_max_wait_ms=1, result_publish_timeout_s=2.0)


def job(job_id: str, *segments: str, **extra: Any) -> dict[str, Any]:
    return {"job_id": job_id, "source_lang": "en", "target_lang": "de",
            "segments": list(segments), "callback_url": "https://example.com/hook", **extra}


class Rig:
    """A lifecycle wired as the worker wires it, with the model thread optional."""

    def __init__(self, settings: Settings = SETTINGS) -> None:
        self.broker = InMemoryBroker()
        self.metrics = WorkerMetrics(CollectorRegistry())
        self.models = ModelSet.of(ReversingEngine(), settings.routes)
        self.queue = BatchQueue(Scheduler.from_settings(settings))
        self.pool = ThreadPoolExecutor(max_workers=2)
        self.control = TaskSet("test")
        self.lifecycle = Lifecycle(
            settings, self.models, self.queue, self.broker, metrics=self.metrics,
            pool=self.pool, reuse=SegmentReuse.from_settings(settings, self.metrics.cache),
            control=self.control.spawn,
        )
        self.lifecycle.solo.active = True
        self.thread: InferenceThread | None = None

    def start_model(self) -> None:
        loop = asyncio.get_running_loop()

        def sink(results: list[SegmentResult]) -> None:
            loop.call_soon_threadsafe(self.lifecycle.on_results, results)

        self.thread = InferenceThread(self.models, self.queue, sink, self.metrics)
        self.thread.start()

    async def receive(self, body: dict[str, Any] | bytes, *, delivery_count: int = 0,
                      lane: Lane = Lane.BULK) -> int:
        message = self.broker.message(body, delivery_count=delivery_count)
        await self.lifecycle.receive(message, "en-de", lane)
        return int(message.delivery_tag)

    async def until(self, done: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not done():
            assert asyncio.get_running_loop().time() < deadline, "condition not reached"
            await asyncio.sleep(0.005)

    def close(self) -> None:
        self.queue.close()
        if self.thread is not None:
            self.thread.join(timeout=5)
        self.control.cancel_all()
        self.pool.shutdown(wait=True)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    made = Rig()
    try:
        yield made
    finally:
        made.close()


async def test_a_job_is_admitted_batched_completed_published_then_acked(rig: Rig) -> None:
    rig.start_model()
    tag = await rig.receive(job("j1", "abc", "hello", "  "))
    assert len(rig.lifecycle.table) == 1  # admitted: held until answered
    await rig.until(lambda: bool(rig.broker.channel.acks))
    [published] = rig.broker.published
    assert published.event.type == "job.completed"
    assert published.body["translations"] == ["cba", "olleh", ""]
    assert rig.broker.channel.acks == [tag] and not rig.broker.channel.requeues
    assert len(rig.lifecycle.table) == 0
    assert rig.metrics.batches_started_total._value.get() >= 1


async def test_jobs_of_one_loop_turn_share_a_batch(rig: Rig) -> None:
    for name in ("a", "b", "c"):
        await rig.receive(job(name, f"text {name}"))
    rig.queue.drain()  # dispatch what is waiting at once
    batch = rig.queue.get()
    assert batch is not None
    assert sorted({s.job_key.split("#")[0] for s in batch.segments}) == ["a", "b", "c"]


async def test_not_a_job_is_dead_lettered_and_an_invalid_job_answered(rig: Rig) -> None:
    garbage = await rig.receive(b"\xff not json")
    invalid = await rig.receive(job("bad", "x", options={"beam_size": 99}))
    [(body, reason)] = rig.broker.dead_letters
    assert body == b"\xff not json" and "not valid" in reason
    [failed] = rig.broker.published
    assert failed.event.type == "job.failed" and failed.body["error"]["code"] == "invalid_job"
    assert rig.broker.channel.acks == [garbage, invalid]


async def test_a_redelivered_job_is_quarantined_and_runs_alone(rig: Rig) -> None:
    first = await rig.receive(job("healthy", "first"))
    redelivered = await rig.receive(job("suspect", "second"), delivery_count=1)
    table = rig.lifecycle.table
    assert "suspect" in [entry.job.job_id for entry in table.quarantine]
    await rig.until(lambda: rig.broker.consuming == [False])  # intake paused
    rig.start_model()
    await rig.until(lambda: len(rig.broker.channel.acks) == 2)
    # The job delivered before the pause finished first; the suspect ran alone after it.
    assert rig.broker.channel.acks == [first, redelivered]
    await rig.until(lambda: rig.broker.consuming == [False, True])  # intake resumed
    assert not table.quarantine and table.solo is None


async def test_drain_requeues_unstarted_jobs_and_stops_consuming(rig: Rig) -> None:
    # The same text twice: b waits on a's computation (in-flight dedup) until a leaves.
    tags = [await rig.receive(job(name, "waiting")) for name in ("a", "b")]
    await rig.lifecycle.drain(timeout_s=1.0, abandon=asyncio.Event())
    assert rig.broker.consuming == [False]
    assert sorted(rig.broker.channel.requeues) == tags
    assert not rig.broker.published and len(rig.lifecycle.table) == 0
    # Intake decides to hand back whatever arrives while draining; deciding settles nothing.
    late = Delivery(rig.broker.message(job("late", "x")), "en-de")
    assert await rig.lifecycle.intake.admit(late) == Requeue("draining")
    assert sorted(rig.broker.channel.requeues) == tags


async def test_an_unconfirmed_publish_is_retried_then_acked(rig: Rig) -> None:
    rig.broker.refuse = 2
    rig.start_model()
    tag = await rig.receive(job("retried", "abc"))
    await rig.until(lambda: bool(rig.broker.channel.acks or rig.broker.channel.requeues))
    assert rig.broker.refused == 2 and len(rig.broker.published) == 1
    assert rig.broker.channel.acks == [tag] and not rig.broker.channel.requeues


async def test_a_publish_never_confirmed_requeues_the_job() -> None:
    rig = Rig(SETTINGS.replace(result_publish_timeout_s=0.3))
    try:
        rig.broker.refuse = 1_000
        rig.start_model()
        tag = await rig.receive(job("lost", "abc"))
        await rig.until(lambda: bool(rig.broker.channel.requeues))
        assert rig.broker.channel.requeues == [tag] and not rig.broker.channel.acks
        assert not rig.broker.published
    finally:
        rig.close()

