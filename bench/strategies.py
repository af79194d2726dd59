"""The in-process strategies: everything but the broker. No AMQP here.

Each takes pre-tokenized jobs (a list of jobs, each a list of token-id lists, in arrival
order), runs them through a :class:`~bench.measure.RecordingEngine` and returns per-job
completion times, measured from the moment the whole backlog was handed over.

- ``limit``: the raw engine on ideally packed batches: every segment sorted by length, cut
  into batches by the worker's own token budget. What the hardware can do with this model at
  these batch shapes, with no scheduling, broker or tokenizing cost.
- ``scheduler``: the worker's :class:`~worker.batching.queue.BatchQueue` and
  :class:`~worker.compute.inference.InferenceThread`, fed the whole backlog at once: mtq minus
  RabbitMQ.
  The scheduler comes from the run's :class:`~mtq.core.settings.Settings` through
  :meth:`~worker.batching.scheduler.Scheduler.from_settings`, as the worker builds it (padding cap
  included), so the row measures what production runs.
- ``naive``: one job at a time, its segments in order (in chunks of ``fixed_batch`` when a job
  is larger than that), no batching across jobs: a plain task-queue worker.
- ``fixed``: batches of ``fixed_batch`` segments across jobs in arrival order, no length
  sorting: the textbook "batch size N" server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mtq.core.contract import DecodeOptions
from mtq.core.settings import Settings
from worker.batching.items import WorkItem, batch_cost
from worker.batching.queue import BatchQueue
from worker.batching.scheduler import Scheduler

TokenJobs = Sequence[Sequence[Sequence[int]]]


@dataclass(frozen=True)
class Packing:
    """The worker's batching knobs (``MTQ_BATCH_TOKENS`` and friends)."""

    token_budget: int = 8192
    max_batch_segments: int = 64
    max_wait_s: float = 0.02

    def settings(self, base: Settings | None = None) -> Settings:
        """``base`` (default: the deployed defaults) with this packing."""
        return (base or Settings()).replace(
            batch_tokens=self.token_budget, max_batch_segments=self.max_batch_segments,
            batch_max_wait_ms=round(self.max_wait_s * 1000),
        )


@dataclass(frozen=True)
class Timing:
    wall_s: float
    job_latencies_s: list[float]


class _Completion:
    """Tracks which jobs are done and when, relative to ``start``."""

    def __init__(self, jobs: TokenJobs) -> None:
        self.remaining = [len(job) for job in jobs]
        self.finished: list[float | None] = [None] * len(jobs)
        self.start = time.perf_counter()

    def done(self, job: int, count: int = 1) -> None:
        self.remaining[job] -= count
        if self.remaining[job] == 0:
            self.finished[job] = time.perf_counter() - self.start

    def timing(self) -> Timing:
        wall = time.perf_counter() - self.start
        missing = [i for i, t in enumerate(self.finished) if t is None]
        if missing:
            raise RuntimeError(f"{len(missing)} jobs never finished (first: job {missing[0]})")
        return Timing(wall, [t for t in self.finished if t is not None])


Generate = Callable[[Sequence[Sequence[int]], DecodeOptions], list[list[int]]]


def _run_batches(
    generate: Generate, jobs: TokenJobs, options: DecodeOptions,
    batches: Iterable[Sequence[tuple[int, int]]],
) -> Timing:
    """Generate each batch of (job, index) pairs in turn; a job ends with its last segment."""
    completion = _Completion(jobs)
    for batch in batches:
        outputs = generate([jobs[j][i] for j, i in batch], options)
        if len(outputs) != len(batch):
            raise RuntimeError(f"{len(outputs)} outputs for {len(batch)} segments")
        for job, _ in batch:
            completion.done(job)
    return completion.timing()


def pack_sorted(
    lengths: Sequence[tuple[int, int, int]], beam_size: int, packing: Packing
) -> list[list[tuple[int, int]]]:
    """(job, index, length) triples sorted by length and cut greedily at the token budget."""
    ordered = sorted(lengths, key=lambda item: item[2])
    batches: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    for job, index, length in ordered:
        fits = len(current) < packing.max_batch_segments and (
            batch_cost(len(current) + 1, length, beam_size) <= packing.token_budget
        )
        if current and not fits:
            batches.append(current)
            current = []
        current.append((job, index))
    if current:
        batches.append(current)
    return batches


def run_limit(
    generate: Generate, jobs: TokenJobs, options: DecodeOptions, packing: Packing
) -> Timing:
    triples = [(j, i, len(tokens)) for j, job in enumerate(jobs) for i, tokens in enumerate(job)]
    return _run_batches(generate, jobs, options, pack_sorted(triples, options.beam_size, packing))


def run_naive(
    generate: Generate, jobs: TokenJobs, options: DecodeOptions, fixed_batch: int
) -> Timing:
    def batches() -> Iterable[list[tuple[int, int]]]:
        for j, job in enumerate(jobs):
            for start in range(0, len(job), fixed_batch):
                yield [(j, i) for i in range(start, min(len(job), start + fixed_batch))]

    return _run_batches(generate, jobs, options, batches())


def run_fixed(
    generate: Generate, jobs: TokenJobs, options: DecodeOptions, fixed_batch: int
) -> Timing:
    flat = [(j, i) for j, job in enumerate(jobs) for i in range(len(job))]
    chunks = (flat[s : s + fixed_batch] for s in range(0, len(flat), fixed_batch))
    return _run_batches(generate, jobs, options, chunks)


def run_scheduler(
    engine: object, jobs: TokenJobs, options: DecodeOptions, settings: Settings
) -> Timing:
    """The worker's scheduler and inference thread, minus the broker and the tokenizer."""
    from prometheus_client import CollectorRegistry

    from worker.compute.inference import InferenceThread, SegmentResult
    from worker.metrics import WorkerMetrics

    queue = BatchQueue(Scheduler.from_settings(settings))
    total = sum(len(job) for job in jobs)
    lock = threading.Lock()
    all_done = threading.Event()
    failures: list[str] = []
    received = 0
    completion = _Completion(jobs)

    def sink(results: list[SegmentResult]) -> None:
        nonlocal received
        with lock:
            for result in results:
                if result.output is None:
                    failures.append(result.error or "?")
                completion.done(int(str(result.segment.job_key)))
            received += len(results)
            if received >= total:
                all_done.set()

    thread = InferenceThread(
        engine, queue, sink, WorkerMetrics(CollectorRegistry()),  # type: ignore[arg-type]
    )
    completion.start = time.perf_counter()
    for j, job in enumerate(jobs):
        queue.add(str(j), options, [WorkItem(i, tokens) for i, tokens in enumerate(job)])
    thread.start()
    try:
        while not all_done.wait(0.5):
            if not thread.is_alive():
                raise RuntimeError("the inference thread died")
    finally:
        queue.close()
        thread.join(timeout=60)
    if failures:
        raise RuntimeError(f"{len(failures)} segments failed, first: {failures[0]}")
    return completion.timing()


def warm_engine(engine: Any, options: DecodeOptions, packing: Packing, seed: int = 0) -> None:
    """The engine's own warm-up, then one full-size batch, so that no strategy pays for
    allocator growth, lazy initialisation or kernel autotuning; clears the batch records."""
    from bench.workload import make_workload

    engine.warmup(options)
    workload = make_workload("small", packing.max_batch_segments, seed=seed + 99)
    sources = sorted((ids for job in workload.jobs for ids in engine.encode(list(job))), key=len)
    triples = [(0, i, len(ids)) for i, ids in enumerate(sources)]
    first = pack_sorted(triples, options.beam_size, packing)[0]
    engine.generate([sources[i] for _, i in first], options)
    engine.reset()
