"""The inference thread: the one place that calls the engine.

It pulls batches from the :class:`BatchQueue`, decodes them, and hands each segment's result
back to the event loop through a callback. A failing batch is bisected so that only the
segment that really fails is reported as failed; an out-of-memory error also lowers the
scheduler's token budget so the next batches fit, and a single segment that runs out of memory
gets one more try after the device cache is released. Nothing a batch does can end this
thread: whatever escapes the per-batch boundary fails that batch's segments, and the thread
takes the next batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from mtq.core.vouch import Hypothesis
from worker.batching.items import Batch, Segment
from worker.batching.queue import BatchQueue
from worker.engines import Engine
from worker.engines.alignment import attention_for
from worker.metrics import WorkerMetrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentResult:
    segment: Segment
    output: list[int] | None  # generated token ids; None when the segment failed
    error: str | None
    started_at: float
    finished_at: float
    attention: list[list[float]] | None = None  # markup segments only (worker/engines/alignment.py)
    confidence: float = 0.0  # of the output (mtq/core/vouch/confidence.py)
    finished: bool = True  # False when decoding stopped at the token cap without EOS


ResultSink = Callable[[list[SegmentResult]], None]


class InferenceThread(threading.Thread):
    """Runs ``generate`` on one dedicated thread, never on the event loop."""

    def __init__(
        self, engine: Engine, queue: BatchQueue, sink: ResultSink, metrics: WorkerMetrics
    ) -> None:
        super().__init__(name="mtq-inference", daemon=True)
        self._engine = engine
        self._queue = queue
        self._sink = sink
        self._metrics = metrics
        self.busy = False

    def run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            self.busy = True
            try:
                results = self._run(batch)
            except Exception as exc:  # a bug in isolation must not end the thread
                log.exception("batch of %d segments could not be isolated", len(batch.segments))
                now = time.monotonic()
                results = [
                    SegmentResult(s, None, f"internal error: {type(exc).__name__}", now, now)
                    for s in batch.segments
                ]
            finally:
                self.busy = False
            try:
                self._sink(results)
            except RuntimeError:  # the event loop is gone: the worker is shutting down
                log.warning("results of %d segments dropped at shutdown", len(results))
                return

    def _run(self, batch: Batch, *, retried: bool = False) -> list[SegmentResult]:
        started = time.monotonic()
        try:
            hypotheses = self._generate(batch)
        except Exception as exc:  # the per-batch error boundary
            return self._isolate(batch, exc, retried=retried)
        finished = time.monotonic()
        outputs = [h.tokens for h in hypotheses]
        attention = attention_for(self._engine, [s.tokens for s in batch.segments], outputs,
                                  [s.align for s in batch.segments], batch.options)
        return [
            SegmentResult(segment, h.tokens, None, started, finished, rows,
                          confidence=h.confidence, finished=h.finished)
            for segment, h, rows in zip(batch.segments, hypotheses, attention, strict=True)
        ]

    def _generate(self, batch: Batch) -> list[Hypothesis]:
        self._metrics.batches_started_total.inc()
        started = time.perf_counter()
        prefixes = [s.prefix for s in batch.segments]
        outputs = self._engine.generate_scored(
            [s.tokens for s in batch.segments], batch.options,
            prefixes=prefixes if any(prefixes) else None,
        )
        elapsed = time.perf_counter() - started
        if len(outputs) != len(batch.segments):
            raise RuntimeError(
                f"engine returned {len(outputs)} outputs for {len(batch.segments)} segments"
            )
        self._metrics.observe_batch(batch, elapsed, [h.tokens for h in outputs])
        return outputs

    def _isolate(self, batch: Batch, exc: Exception, *, retried: bool) -> list[SegmentResult]:
        """Bisect a failed batch until the failing segments are alone."""
        out_of_memory = self._engine.is_out_of_memory(exc)
        if out_of_memory:
            self._engine.release_memory()
            self._metrics.oom_total.inc()
            if len(batch.segments) > 1:
                budget = self._queue.shrink_budget()
                self._metrics.token_budget.set(budget)
                log.warning(
                    "out of memory on a batch of %d segments (cost %d); token budget now %d",
                    len(batch.segments), batch.cost, budget,
                )
            elif not retried:
                log.warning("out of memory on a single segment (cost %d); retrying it once",
                            batch.cost)
                return self._run(batch, retried=True)
        if len(batch.segments) == 1:
            segment = batch.segments[0]
            now = time.monotonic()
            log.error(
                "job %s: segment %d failed: %s", segment.job_key, segment.index, exc,
                exc_info=not out_of_memory,
            )
            self._metrics.segment_failures_total.inc()
            return [SegmentResult(segment, None, f"{type(exc).__name__}: {exc}", now, now)]
        log.warning(
            "batch of %d segments failed (%s); retrying in halves", len(batch.segments), exc
        )
        results: list[SegmentResult] = []
        for half in batch.split():
            results.extend(self._run(half))
        return results
