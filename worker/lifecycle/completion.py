"""Completion: segment results in, the job's result event out (detokenize, build, settle).

The inference thread's results reach :meth:`Completion.on_results` on the event loop. A job
whose last segment is done is detokenized in the pool and answered with ``job.completed``; a
job with a segment that failed on its own is answered with ``job.failed`` (``segment_failed``)
and its other segments are dropped from the scheduler. The outcome goes to the settler
(publish confirmed, then ack); then the job leaves the table.

Stages that post-process translations go into :meth:`Completion._translations` (after
``decode``); stages that keep what was computed go after the event is built.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor
from typing import Any

from mtq.core.contract import ErrorCode
from mtq.core.events import CompletedEvent, FailedEvent, ResultEvent
from worker.batching.queue import BatchQueue
from worker.cache import SegmentReuse
from worker.compute.inference import SegmentResult
from worker.compute.tokenizing import run_tokenizer_work
from worker.engines import Engine
from worker.engines.model_set import ModelSet
from worker.lifecycle.jobs import InFlightJob
from worker.lifecycle.jobtable import JobTable
from worker.lifecycle.markup_steps import RestoredJob, restore_job
from worker.lifecycle.outcomes import Publish
from worker.lifecycle.settler import Settler
from worker.metrics import WorkerMetrics

log = logging.getLogger(__name__)


class Completion:
    def __init__(
        self, models: ModelSet, table: JobTable, queue: BatchQueue, settler: Settler, *,
        metrics: WorkerMetrics, pool: Executor, reuse: SegmentReuse,
        spawn: Callable[[Coroutine[Any, Any, Any]], None], after: Callable[[], None],
    ) -> None:
        self._models = models
        self._table = table
        self._queue = queue
        self._settler = settler
        self._metrics = metrics
        self._pool = pool
        self._reuse = reuse  # in-flight dedup's fan-out, the translation cache's stores
        self._spawn = spawn  # settling tasks: the drain waits for them
        self._after = after  # called once a job has left the table

    def on_results(self, results: list[SegmentResult]) -> None:
        # In-flight dedup: one result per job holding the segment, each with its own index.
        for result in self._reuse.fan_out(results):
            entry = self._table.get(str(result.segment.job_key))
            if entry is None or entry.failed:
                continue  # the job already failed or was handed back
            if result.output is None:
                entry.failed = True
                self._queue.cancel(entry.key)
                job = entry.job
                self._spawn(self._answer(entry, FailedEvent.for_job(
                    job, ErrorCode.SEGMENT_FAILED,
                    f"segments[{result.segment.index}] could not be translated: {result.error}",
                )))
                continue
            if result.attention is not None:
                entry.attention[result.segment.index] = (result.segment.tokens,
                                                         result.attention)
            first = not entry.started
            done = entry.record(
                result.segment.index, result.output, result.started_at, result.finished_at
            )
            if first:
                self._metrics.queue_wait_seconds.observe(entry.stats().queue_ms / 1000)
            if done:
                self.finish(entry)

    def finish(self, entry: InFlightJob) -> None:
        """Every segment of ``entry`` is done: answer it."""
        self._spawn(self._answer(entry, None))

    async def _answer(self, entry: InFlightJob, event: ResultEvent | None) -> None:
        try:
            if event is None:
                event = await self._completed(entry)
            await self._settler.settle(Publish(event, entry.job.callback_url), entry.delivery,
                                       entry)
        finally:
            self._table.forget(entry)
            self._after()

    async def _completed(self, entry: InFlightJob) -> ResultEvent:
        job = entry.job
        try:
            # The model that served this job (engines/model_set.py) decodes it and is named in the
            # result's model block.
            engine = self._models.engine_for(job.options)
            restored = await run_tokenizer_work(
                self._pool, len(job.segments), lambda: self._restored(entry, engine)
            )
            # Only a finished job's computed translations become entries (never partial ones).
            await self._reuse.store_computed(entry.cache_keys, restored.translations,
                                             entry.translated)
            return CompletedEvent(job, restored.translations, engine.info, entry.stats(),
                                  warnings=restored.warnings)
        except Exception as exc:  # the job must still be answered, never left hanging
            log.exception("job %s: could not assemble the result", job.job_id)
            return FailedEvent.for_job(
                job, ErrorCode.INTERNAL_ERROR,
                f"the translations could not be assembled: {type(exc).__name__}",
            )

    @staticmethod
    def _restored(entry: InFlightJob, engine: Engine) -> RestoredJob:
        """Markup codes put back (worker/lifecycle/markup_steps.py); the identity without markup."""
        return restore_job(entry.job, Completion._translations(entry, engine), entry.outputs,
                           entry.attention, engine.decode, answered=entry.translated)

    @staticmethod
    def _translations(entry: InFlightJob, engine: Engine) -> list[str]:
        """Detokenize what the model produced; segments answered at intake keep their text."""
        pending = [i for i, o in enumerate(entry.outputs) if i not in entry.translated]
        decoded = engine.decode([entry.outputs[i] or [] for i in pending])
        texts = dict(entry.translated)
        texts.update(zip(pending, decoded, strict=True))
        return [texts[i] for i in range(len(entry.outputs))]
