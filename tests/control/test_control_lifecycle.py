"""Cancel and progress through the lifecycle's driver against the in-memory broker
(tests/lifecycle): which segments a cancel drops, what finishes, who is not touched, and
what is published. Milliseconds each; the real-broker path is test_control_worker.py."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Sequence

import pytest

from mtq.core.contract import DecodeOptions
from mtq.core.control import CancelRequest
from mtq.core.settings import Settings
from tests.lifecycle.broker_double import ReversingEngine
from tests.lifecycle.test_lifecycle import SETTINGS, Rig, job
from worker.batching.fairness import Lane
from worker.broker.message import Delivery
from worker.engines.model_set import ModelSet
from worker.lifecycle.outcomes import Admit

SMALL_BATCHES = SETTINGS.replace(max_batch_segments=2)


class GatedEngine(ReversingEngine):
    """The reversing stand-in whose first ``generate`` waits until the test opens the gate."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.batches: list[list[list[int]]] = []

    def generate(
        self, sources: Sequence[Sequence[int]], options: DecodeOptions,
        prefixes: Sequence[Sequence[int]] | None = None,
    ) -> list[list[int]]:
        self.batches.append([list(s) for s in sources])
        self.entered.set()
        assert self.gate.wait(10), "the test never opened the gate"
        return super().generate(sources, options, prefixes)


def gated_rig(settings: Settings = SMALL_BATCHES) -> tuple[Rig, GatedEngine]:
    made = Rig(settings)
    engine = GatedEngine()
    made.models = ModelSet.of(engine, settings.routes)
    made.lifecycle.completion._models = made.models
    made.lifecycle.intake._models = made.models
    return made, engine


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    made = Rig()
    try:
        yield made
    finally:
        made.close()


def by_job(rig: Rig) -> dict[str, dict[str, object]]:
    return {p.body["job_id"]: p.body for p in rig.broker.published}  # type: ignore[misc]


async def cancel(rig: Rig, job_id: str, tenant: str | None = None, *,
                 pending: bool = False) -> None:
    await rig.lifecycle.on_control(CancelRequest(job_id, tenant).encode(), pending=pending)


async def test_a_job_not_in_a_batch_yet_is_cancelled_at_once(rig: Rig) -> None:
    tag = await rig.receive(job("big", "one", "two", "  ", "four"))
    await cancel(rig, "big")
    await rig.until(lambda: bool(rig.broker.channel.acks))
    [event] = rig.broker.published
    assert event.event.type == "job.cancelled" and rig.broker.channel.acks == [tag]
    body = event.body
    assert body["translations"] == [None, None, "", None]  # the blank one was answered
    assert (body["done"], body["total"]) == (1, 4)
    assert not any(rig.queue.is_waiting(key, 0) for key in rig.lifecycle.table.jobs)
    assert rig.metrics.segments_dropped_total._value.get() == 3
    assert rig.metrics.jobs_cancelled_total.labels(stage="waiting")._value.get() == 1
    assert len(rig.lifecycle.table) == 0


async def test_segments_in_a_batch_finish_and_batch_mates_are_untouched() -> None:
    rig, engine = gated_rig()
    try:
        rig.start_model()
        await rig.receive(job("big", "aaaa", "bbbb", "cccc", "dddd", "eeee", "ffff"))
        await rig.receive(job("mate", "gggg", "hhhh"))
        assert engine.entered.wait(5)  # the first batch (2 segments) is in the engine
        await cancel(rig, "big")
        engine.gate.set()
        await rig.until(lambda: len(rig.broker.channel.acks) == 2)
        events = by_job(rig)
        big, mate = events["big"], events["mate"]
        assert mate["type"] == "job.completed" and mate["translations"] == ["gggg", "hhhh"]
        assert big["type"] == "job.cancelled"
        first_batch = {"".join(map(chr, ids)) for ids in engine.batches[0]}
        kept = [t for t in big["translations"] if t is not None]  # type: ignore[union-attr]
        assert kept and {t[::-1] for t in kept} <= first_batch  # what was in the batch
        assert big["done"] == len(kept) < 6
        computed = sum(len(batch) for batch in engine.batches)
        assert computed == len(kept) + 2  # big's dropped segments never reached the engine
    finally:
        rig.close()


async def test_a_cancel_after_the_answer_changes_nothing(rig: Rig) -> None:
    rig.start_model()
    await rig.receive(job("done", "abc"))
    await rig.until(lambda: bool(rig.broker.channel.acks))
    await cancel(rig, "done")
    await cancel(rig, "never-seen")  # unknown: remembered, harmless
    [event] = rig.broker.published
    assert event.event.type == "job.completed"
    remembered = rig.metrics.control_messages_total.labels(outcome="remembered")
    assert remembered._value.get() == 2


async def test_a_job_whose_cancel_came_first_is_cancelled_at_intake(rig: Rig) -> None:
    await cancel(rig, "early", "acme")
    await rig.receive(job("early", "abc", tenant="beta"))  # another tenant's job: runs
    tag = await rig.receive(job("early", "abc", "  ", tenant="acme"))
    await rig.until(lambda: tag in rig.broker.channel.acks)
    cancelled = [p.body for p in rig.broker.published if p.event.type == "job.cancelled"]
    assert cancelled == [{
        "type": "job.cancelled", "job_id": "early", "source_lang": "en", "target_lang": "de",
        "translations": [None, None], "done": 0, "total": 2,
        "model": {"name": "reversing", "revision": "0", "engine": "hf",
                  "compute_type": "float32"},
        "metadata": {}, "stats": cancelled[0]["stats"], "tenant": "acme",
    }]
    assert len(rig.lifecycle.table) == 1  # beta's job is held, untouched


async def test_malformed_control_messages_are_dropped_and_the_worker_goes_on(rig: Rig) -> None:
    for body in (b"\xff", b"[]", b'{"type": "job.cancel"}', b'{"type": "other"}'):
        await rig.lifecycle.on_control(body, pending=True)
    rig.start_model()
    await rig.receive(job("after", "abc"))
    await rig.until(lambda: bool(rig.broker.channel.acks))
    assert rig.broker.published[0].body["translations"] == ["cba"]
    invalid = rig.metrics.control_messages_total.labels(outcome="invalid")
    assert invalid._value.get() == 4


async def test_a_cancelled_job_hands_its_shared_segments_to_the_jobs_that_follow_them() -> None:
    rig, engine = gated_rig(SMALL_BATCHES.replace(cache="memory"))
    try:
        rig.start_model()
        await rig.receive(job("blocker", "zz", "yy"))  # fills the first batch
        await rig.receive(job("owner", "same text", "owner only"))
        await rig.receive(job("follower", "same text"))  # joins owner's flight
        assert engine.entered.wait(5)
        await cancel(rig, "owner")
        engine.gate.set()
        await rig.until(lambda: len(rig.broker.channel.acks) == 3)
        events = by_job(rig)
        assert events["owner"]["translations"] == [None, None]
        assert events["follower"]["translations"] == ["txet emas"]
        assert rig.metrics.cache.dedup_saved_total._value.get() == 1  # it did follow
    finally:
        rig.close()


async def test_progress_is_due_by_segments_and_time_and_never_for_cancelled_jobs(
    rig: Rig,
) -> None:
    now = [0.0]
    reporter = rig.lifecycle.progress
    reporter._clock = lambda: now[0]
    await rig.receive(job("p", *[f"s{i}" for i in range(40)]))
    await rig.receive(job("q", *[f"s{i}" for i in range(40)]))
    entries = {e.job.job_id: e for e in rig.lifecycle.table.jobs.values()}
    for entry in entries.values():
        entry.first_started, entry.remaining = 0.0, 30  # 10 of 40 done
    assert [(e.job.job_id, event.done) for e, event in reporter.due()] == [("p", 10), ("q", 10)]
    entries["p"].remaining = 20
    assert reporter.due() == []  # within the interval
    now[0] = 5.0
    await cancel(rig, "q")
    assert [(e.job.job_id, event.done) for e, event in reporter.due()] == [("p", 20)]


async def test_a_cancel_that_comes_while_the_job_is_admitted_still_cancels_it(rig: Rig) -> None:
    message = rig.broker.message(job("racing", "abc", "  "))
    delivery = Delivery(message, "en-de", Lane.BULK)
    outcome = await rig.lifecycle.intake.admit(delivery)  # decided before the cancel came
    assert isinstance(outcome, Admit)
    await cancel(rig, "racing")  # no held job matched yet: remembered
    await rig.lifecycle.execute(outcome, delivery)
    await rig.until(lambda: bool(rig.broker.channel.acks))
    [event] = rig.broker.published
    assert event.body["type"] == "job.cancelled"
    assert event.body["translations"] == [None, None] and event.body["done"] == 0
    assert rig.metrics.jobs_cancelled_total.labels(stage="waiting")._value.get() == 1
