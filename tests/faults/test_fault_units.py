"""Fast fault tests, no broker: OOM through the inference thread, the quarantine's order,
settling on a dead channel, the faulty engine. Milliseconds each."""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from aio_pika.exceptions import ChannelInvalidStateError
from prometheus_client import CollectorRegistry

from mtq.core.contract import DecodeOptions, Job
from mtq.core.events import ModelInfo
from mtq.core.vouch import Hypothesis
from tests.faults.faulty_engine import FaultyEngine, InjectedFault, InjectedOutOfMemory
from worker.batching.items import WorkItem
from worker.batching.queue import BatchQueue
from worker.batching.scheduler import Scheduler
from worker.broker.message import Delivery
from worker.compute.inference import InferenceThread, SegmentResult
from worker.lifecycle.jobs import InFlightJob
from worker.lifecycle.quarantine import Quarantine
from worker.metrics import WorkerMetrics

OPTIONS = DecodeOptions(beam_size=2, max_new_tokens=8)


class OutOfMemoryError(RuntimeError):
    """Stands in for torch.OutOfMemoryError (a RuntimeError subclass)."""


@dataclass
class FakeEngine:
    """Runs out of memory above ``capacity`` (cost units) and on segments in ``always_oom``."""

    capacity: int
    always_oom: set[int] = field(default_factory=set)
    oom_once: set[int] = field(default_factory=set)
    calls: list[int] = field(default_factory=list)
    released: int = 0
    info: ModelInfo = field(default_factory=lambda: ModelInfo(name="fake", revision="0"))
    max_source_tokens: int = 512

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        return [[1] * len(t) for t in texts]

    def generate(
        self, sources: Sequence[Sequence[int]], options: DecodeOptions,
        prefixes: Sequence[Sequence[int]] | None = None,
    ) -> list[list[int]]:
        self.calls.append(len(sources))
        cost = len(sources) * max(len(s) for s in sources) * options.beam_size
        markers = {s[0] for s in sources}
        if cost > self.capacity or markers & self.always_oom:
            raise OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB")
        if markers & self.oom_once:
            self.oom_once -= markers
            raise OutOfMemoryError("CUDA out of memory (fragmented)")
        return [[s[0], 2] for s in sources]

    def generate_scored(
        self, sources: Sequence[Sequence[int]], options: DecodeOptions,
        prefixes: Sequence[Sequence[int]] | None = None,
    ) -> list[Hypothesis]:
        return [Hypothesis(row, -0.5, 2) for row in self.generate(sources, options)]

    def decode(self, outputs: Sequence[Sequence[int]]) -> list[str]:
        return [" ".join(map(str, o)) for o in outputs]

    def warmup(self, options: DecodeOptions) -> None:
        pass

    def is_out_of_memory(self, exc: BaseException) -> bool:  # as HFEngine decides it
        return isinstance(exc, OutOfMemoryError) or "out of memory" in str(exc).lower()

    def release_memory(self) -> None:
        self.released += 1


class Sink:
    def __init__(self, expected: int) -> None:
        self.results: list[SegmentResult] = []
        self.expected = expected
        self.done = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, results: list[SegmentResult]) -> None:
        with self.lock:
            self.results.extend(results)
            if len(self.results) >= self.expected:
                self.done.set()


def items(*rows: tuple[int, list[int]]) -> list[WorkItem]:
    return [WorkItem(index, tokens) for index, tokens in rows]


def run_thread(
    engine: Any, segments: list[WorkItem], budget: int, expected: int,
) -> tuple[Sink, BatchQueue, WorkerMetrics, InferenceThread]:
    queue = BatchQueue(Scheduler(token_budget=budget, max_batch_segments=64, max_wait_s=0,
                                 min_token_budget=16))
    metrics = WorkerMetrics(CollectorRegistry())
    sink = Sink(expected)
    thread = InferenceThread(engine, queue, sink, metrics)
    thread.start()
    queue.add("job", OPTIONS, segments)
    assert sink.done.wait(10), f"only {len(sink.results)} of {expected} results"
    return sink, queue, metrics, thread


def stop(queue: BatchQueue, thread: InferenceThread) -> None:
    queue.close()
    thread.join(5)
    assert not thread.is_alive()


def test_oom_splits_the_batch_lowers_the_budget_and_every_segment_succeeds() -> None:
    engine = FakeEngine(capacity=4 * 10 * 2)  # four 10-token segments at beam 2 fit
    segments = items(*((i, [i + 10] + [1] * 9) for i in range(16)))
    sink, queue, metrics, thread = run_thread(engine, segments, budget=16 * 10 * 2, expected=16)
    try:
        assert all(r.output is not None for r in sink.results)
        assert sorted(r.segment.index for r in sink.results) == list(range(16))
        assert engine.calls[0] == 16  # the whole batch was tried first
        assert queue.token_budget < 16 * 10 * 2
        assert metrics.oom_total._value.get() >= 2
        assert engine.released >= 2
        assert thread.is_alive()
    finally:
        stop(queue, thread)


def test_the_lowered_budget_makes_later_batches_fit_at_once() -> None:
    engine = FakeEngine(capacity=60)
    segments = items(*((i, [i + 10] + [1] * 9) for i in range(8)))
    _, queue, _, thread = run_thread(engine, segments, budget=400, expected=8)
    try:
        assert queue.token_budget <= 400 * 0.75
        before = len(engine.calls)
        second = Sink(8)
        thread._sink = second  # the next job goes through the lowered budget
        queue.add("job-2", OPTIONS, segments)
        assert second.done.wait(10)
        assert all(r.output is not None for r in second.results)
        assert len(engine.calls) - before < 8 + 7  # fewer attempts than a full bisection
    finally:
        stop(queue, thread)


def test_a_single_segment_oom_is_retried_once_after_releasing_memory() -> None:
    engine = FakeEngine(capacity=10_000, oom_once={42})
    sink, queue, metrics, thread = run_thread(engine, items((0, [42, 1, 1])), 1000, 1)
    try:
        assert sink.results[0].output == [42, 2]
        assert engine.released == 1
        assert metrics.oom_total._value.get() == 1
    finally:
        stop(queue, thread)


def test_a_segment_that_never_fits_fails_alone_and_the_thread_keeps_working() -> None:
    engine = FakeEngine(capacity=10_000, always_oom={99})
    segments = items((0, [5, 1]), (1, [99, 1]), (2, [6, 1]))
    sink, queue, _, thread = run_thread(engine, segments, budget=1000, expected=3)
    try:
        by_index = {r.segment.index: r for r in sink.results}
        assert by_index[1].output is None and "out of memory" in (by_index[1].error or "")
        assert by_index[0].output is not None and by_index[2].output is not None
        assert thread.is_alive()
    finally:
        stop(queue, thread)


def test_a_crashing_error_check_fails_the_batch_but_not_the_thread() -> None:
    class Broken(FakeEngine):
        def is_out_of_memory(self, exc: BaseException) -> bool:
            raise RuntimeError("the error classifier itself is broken")

    engine = Broken(capacity=3)  # every multi-segment batch "fails"
    sink, queue, _, thread = run_thread(engine, items((0, [5, 1]), (1, [6, 1])), 1000, 2)
    try:
        assert all(r.output is None for r in sink.results)
        assert all("internal error" in (r.error or "") for r in sink.results)
        assert thread.is_alive()
        again = Sink(1)
        thread._sink = again
        queue.add("next", OPTIONS, items((0, [7])))
        assert again.done.wait(10) and again.results[0].output == [7, 2]
    finally:
        stop(queue, thread)


class TextEngine(FakeEngine):
    """Distinct token ids per text (its characters), so marked texts are told apart."""

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        return [[ord(c) for c in t] for t in texts]


def test_injected_oom_fault_goes_away_when_the_segment_is_alone() -> None:
    engine = FaultyEngine(TextEngine(capacity=10_000), "FX")  # type: ignore[arg-type]
    tokens = engine.encode(["s0", "s1", "s2", "x FX:oom y"])
    segments = items(*enumerate(tokens))
    sink, queue, metrics, thread = run_thread(engine, segments, 1000, 4)
    try:
        assert all(r.output is not None for r in sink.results)
        assert metrics.oom_total._value.get() >= 1
    finally:
        stop(queue, thread)


# -- the faulty engine (tests/faults/faulty_engine.py) -----------------------------------------


def generate_for(engine: FaultyEngine, *texts: str) -> None:
    engine.generate(engine.encode(texts), OPTIONS)


def test_the_faulty_engine_is_inert_for_input_not_marked() -> None:
    engine = FaultyEngine(TextEngine(capacity=10_000), "FX")  # type: ignore[arg-type]
    marked_elsewhere = TextEngine(capacity=10_000).encode(["FX", "FX:raise"])
    engine.generate(marked_elsewhere, OPTIONS)  # never encoded through the faulty engine
    generate_for(engine, "plain", "text")


def test_faulty_engine_actions() -> None:
    engine = FaultyEngine(TextEngine(capacity=10_000), "FX")  # type: ignore[arg-type]
    with pytest.raises(InjectedFault):
        generate_for(engine, "ok", "boom FX:raise")
    with pytest.raises(InjectedOutOfMemory, match="out of memory"):
        generate_for(engine, "ok", "FX:oom")
    generate_for(engine, "FX:oom")  # alone: fits
    generate_for(engine, "FX:sleep=0.01", "fine")  # sleeps, does not crash


# -- quarantine order --------------------------------------------------------------------------


@dataclass
class FakeMessage:
    body: bytes
    delivery_tag: int
    count: int
    redelivered: bool = True
    message_id: str | None = None
    timestamp: Any = None
    fail_with: BaseException | None = None
    acked: bool = False
    consumer: Any = None  # no retiring consumer to wait for (worker/broker/consumers.py)

    @property
    def headers(self) -> dict[str, Any]:
        return {"x-delivery-count": self.count}

    @property
    def channel(self) -> FakeMessage:  # the worker acks through it (worker/broker/message.py)
        return self

    async def basic_ack(self, delivery_tag: int, wait: bool = True) -> None:
        assert delivery_tag == self.delivery_tag
        if self.fail_with is not None:
            raise self.fail_with
        self.acked = True

    async def basic_nack(self, delivery_tag: int, requeue: bool = True) -> None:
        if self.fail_with is not None:
            raise self.fail_with


def entry(name: str, tag: int, count: int) -> InFlightJob:
    job = Job(name, "en", "de", ("x",), "https://c.example/h", OPTIONS)
    message = FakeMessage(name.encode(), tag, count)
    return InFlightJob(job=job, delivery=Delivery(message, "q"), published_at=None)  # type: ignore[arg-type]


def order(entries: list[InFlightJob], limit: int = 10) -> list[str]:
    quarantine = Quarantine(limit)
    for e in entries:
        quarantine.add(e)
    names = []
    while (e := quarantine.next()) is not None:
        names.append(e.job.job_id)
    return names


def test_quarantine_rotates_arrival_order_by_the_highest_count() -> None:
    assert order([entry("a", 1, 1), entry("x", 2, 1), entry("b", 3, 1)]) == ["x", "b", "a"]
    assert order([entry("a", 1, 2), entry("x", 2, 2), entry("b", 3, 2)]) == ["b", "a", "x"]
    assert order([entry("a", 4, 0), entry("b", 2, 3)]) == ["a", "b"]  # by arrival, start 3 % 2


def test_jobs_on_their_last_delivery_run_first() -> None:
    assert order([entry("a", 1, 1), entry("b", 2, 2), entry("z", 3, 10)], limit=10)[0] == "z"


def test_the_order_is_planned_once_per_round() -> None:
    quarantine = Quarantine(10)
    for e in (entry("a", 1, 1), entry("x", 2, 1), entry("b", 3, 1)):
        quarantine.add(e)
    first = quarantine.next()
    assert first is not None and first.job.job_id == "x"
    late = entry("c", 4, 1)  # arrives mid-round: runs after the planned ones
    quarantine.add(late)
    assert [quarantine.next().job.job_id for _ in range(3)] == ["b", "a", "c"]  # type: ignore[union-attr]


def replay(counts: list[int], poisons: set[int], limit: int) -> dict[int, int]:
    """Replay crashes until every poison job is dead-lettered; returns each job's final count.

    After a crash the broker returns the window in order with every count one higher; a window
    of fresh jobs (all counts 0) is one normal batch, so its crash hits everyone; otherwise the
    quarantine runs the jobs one by one and the crash hits the first poison job and whoever the
    order put after it.
    """
    window = list(enumerate(counts))
    final = dict(window)
    while any(name in poisons for name, _ in window):
        if all(count == 0 for _, count in window):
            hit = {name for name, _ in window}
        else:
            entries = [entry(str(n), tag, c) for tag, (n, c) in enumerate(window)]
            run = [int(name) for name in order(entries, limit)]
            culprit = next(k for k, name in enumerate(run) if name in poisons)
            hit = set(run[culprit:])
        window = [(n, c + 1) for n, c in window if n in hit and c + 1 <= limit]
        for name in hit:
            final[name] += 1
    return final


def test_a_poison_job_costs_its_fresh_neighbours_at_most_two_deliveries() -> None:
    for size in range(1, 10):
        for poison in range(size):
            final = replay([0] * size, {poison}, limit=10)
            assert final[poison] == 11
            assert max((c for n, c in final.items() if n != poison), default=0) <= 2


@pytest.mark.parametrize(("poisons", "bound"), [(1, 3), (2, 5)])
def test_poison_jobs_cost_any_neighbour_a_bounded_number_of_deliveries(
    poisons: int, bound: int
) -> None:
    rng = random.Random(poisons)
    for _ in range(1500):
        size = rng.randint(poisons, 12)
        counts = [rng.choice([0, 0, 1, 1, 2, 3]) for _ in range(size)]
        culprits = set(rng.sample(range(size), poisons))
        final = replay(counts, culprits, limit=10)
        assert all(final[n] > 10 for n in culprits)
        extra = [final[n] - counts[n] for n in range(size) if n not in culprits]
        assert max(extra, default=0) <= bound, (counts, culprits, final)


# -- settling ----------------------------------------------------------------------------------


async def test_an_ack_on_a_dead_channel_is_reported_not_raised() -> None:
    message = FakeMessage(b"{}", 1, 0, fail_with=ChannelInvalidStateError("closed"))
    delivery = Delivery(message, "q")  # type: ignore[arg-type]
    assert await delivery.ack("j") is False
    assert delivery.settled
    assert await delivery.requeue("j") is False  # settled once only


async def test_a_delivery_knows_its_count_order_and_fingerprint() -> None:
    a = Delivery(FakeMessage(b"same", 7, 3), "q")  # type: ignore[arg-type]
    b = Delivery(FakeMessage(b"same", 9, 0), "q")  # type: ignore[arg-type]
    assert (a.delivery_count, a.arrival, a.redelivered) == (3, 7, True)
    assert a.fingerprint == b.fingerprint
    assert await b.ack("j") is True
