"""Completion: segment results in, which jobs are answered out, and each job's result event.

The inference thread's results reach :meth:`Completion.on_results` on the event loop; it
records them and returns an :class:`Answer` for every job that is now done: a job whose last
segment is done is answered with ``job.completed``, a job with a segment that failed on its
own with ``job.failed`` (``segment_failed``; the driver drops its other segments from the
scheduler). :meth:`Completion.result` builds the event (detokenized in the pool) as a
``Publish`` outcome; the driver settles it (publish confirmed, then ack) and the job leaves
the table.

Stages that post-process translations go into :meth:`Completion._translations` (after
``decode``); stages that keep what was computed go after the event is built. Every finished
job's translations are then reviewed (worker/vouch: guard warnings, confidence metrics).
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from dataclasses import dataclass

from mtq.core.contract import ErrorCode, JobLimits
from mtq.core.events import CancelledEvent, CompletedEvent, FailedEvent, ResultEvent
from worker.cache import CachedTranslation, SegmentReuse
from worker.compute.inference import SegmentResult
from worker.compute.tokenizing import run_tokenizer_work
from worker.engines import Engine
from worker.engines.model_set import ModelSet
from worker.lifecycle.jobs import InFlightJob
from worker.lifecycle.jobtable import JobTable
from worker.lifecycle.markup_steps import RestoredJob, restore_job
from worker.lifecycle.outcomes import Publish, RetrySuspects
from worker.metrics import WorkerMetrics
from worker.vouch import OutputReview, Reviewed
from worker.vouch.retrying import Retried, annotated, judge, plan_retries, retry_work
from worker.vouch.review import review

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    """A job to answer now: with ``failure`` when one of its segments failed, else completed."""

    entry: InFlightJob
    failure: FailedEvent | None = None


class Completion:
    def __init__(
        self, models: ModelSet, table: JobTable, *, metrics: WorkerMetrics, pool: Executor,
        reuse: SegmentReuse, limits: JobLimits | None = None,
    ) -> None:
        self._models = models
        self._table = table
        self._metrics = metrics
        self._pool = pool
        self._reuse = reuse  # in-flight dedup's fan-out, the translation cache's stores
        self._review = OutputReview(metrics)  # guards and confidence (worker/vouch)
        self._limits = limits or JobLimits()  # how far a retry may raise the beam and the cap

    def on_results(self, results: list[SegmentResult]) -> list[Answer]:
        """Record segment results; the jobs they finish (or fail) are returned to be answered."""
        answers: list[Answer] = []
        # In-flight dedup: one result per job holding the segment, each with its own index.
        for result in self._reuse.fan_out(results):
            entry = self._table.get(str(result.segment.job_key))
            if entry is None or entry.failed:
                continue  # the job already failed or was handed back
            if entry.retry is not None:  # a suspect segment's retry (worker/vouch/retrying.py)
                entry.last_finished = max(entry.last_finished or 0.0, result.finished_at)
                if entry.retry.take(result.segment.index, Retried(
                        result.output, result.confidence, result.finished, result.attention)):
                    answers.append(Answer(entry))
                continue
            if result.output is None:
                entry.failed = True
                answers.append(Answer(entry, FailedEvent.for_job(
                    entry.job, ErrorCode.SEGMENT_FAILED,
                    f"segments[{result.segment.index}] could not be translated: {result.error}",
                )))
                continue
            if result.attention is not None:
                entry.attention[result.segment.index] = (result.segment.tokens,
                                                         result.attention)
            first = not entry.started
            done = entry.record(
                result.segment.index, result.output, result.started_at, result.finished_at,
                confidence=result.confidence, ended=result.finished,
            )
            if first:
                self._metrics.queue_wait_seconds.observe(entry.stats().queue_ms / 1000)
            if done:
                answers.append(Answer(entry))
        return answers

    async def result(self, answer: Answer) -> Publish | RetrySuspects:
        """The outcome that answers the job: its result event, to publish; or, for a job with
        ``options.on_suspect: "retry"`` and suspect segments, their retries to queue."""
        entry = answer.entry
        event: ResultEvent | RetrySuspects
        if answer.failure is not None:
            event = answer.failure
        elif entry.cancelled:
            event = await self._cancelled(entry)
        else:
            event = await self._completed(entry)
        if isinstance(event, RetrySuspects):
            return event
        return Publish(event, entry.job.callback_url)

    async def _cancelled(self, entry: InFlightJob) -> ResultEvent:
        """``job.cancelled``: what was computed (markup and terms put back), None where dropped;
        nothing goes to the translation cache (only finished jobs do)."""
        job = entry.job
        try:
            engine = self._models.engine_for(job.options)
            restored = await run_tokenizer_work(
                self._pool, len(job.segments), lambda: self._restored(entry, engine)
            )
            kept = tuple(None if entry.outputs[i] is None else text
                         for i, text in enumerate(restored.translations))
            warnings = tuple(w for w in restored.warnings if kept[w.segment] is not None)
            return CancelledEvent(job, kept, engine.info, entry.stats(), warnings)
        except Exception as exc:  # the job must still be answered, never left hanging
            log.exception("job %s: could not assemble the cancelled result", job.job_id)
            return FailedEvent.for_job(
                job, ErrorCode.INTERNAL_ERROR,
                f"the translations could not be assembled: {type(exc).__name__}",
            )

    async def _completed(self, entry: InFlightJob) -> ResultEvent | RetrySuspects:
        job = entry.job
        try:
            # The model that served this job (engines/model_set.py) decodes it and is named in
            # the result's model block.
            engine = self._models.engine_for(job.options)
            bounds = self._review.bounds(engine.info.name, job)
            state = entry.retry
            if state is not None:  # the retries are back: keep the better output of each
                state.verdicts = await run_tokenizer_work(
                    self._pool, len(state.plans), lambda: judge(job, state, engine.decode, bounds))
                self._keep_retries(entry)
            restored, reviewed = await run_tokenizer_work(
                self._pool, len(job.segments), lambda: self._assembled(entry, engine, bounds)
            )
            if state is None:
                entry.retry = plan_retries(job, reviewed, entry.confidence, self._limits)
                if entry.retry is not None:
                    # ``remaining`` stays 0: every segment has an output, so a cancel now is a
                    # no-op and progress counts the job done; the state counts the retries.
                    return RetrySuspects(entry, retry_work(entry.retry, entry.retry_items))
            self._review.record(engine.info.name, job, restored.translations, entry.confidence,
                                reviewed)
            # Only a finished job's computed translations become entries (never partial ones).
            await self._reuse.store_computed(entry.cache_keys, [
                CachedTranslation(text, confidence, ended) for text, confidence, ended
                in zip(restored.translations, entry.confidence, entry.ended, strict=True)
            ], entry.translated)
            warnings = sorted(restored.warnings + reviewed.warnings, key=lambda w: w.segment)
            if state is not None:
                warnings = annotated(state, warnings)
            return CompletedEvent(job, restored.translations, engine.info, entry.stats(),
                                  tuple(entry.confidence), warnings=tuple(warnings),
                                  terms=restored.terms)
        except Exception as exc:  # the job must still be answered, never left hanging
            log.exception("job %s: could not assemble the result", job.job_id)
            return FailedEvent.for_job(
                job, ErrorCode.INTERNAL_ERROR,
                f"the translations could not be assembled: {type(exc).__name__}",
            )

    @staticmethod
    def _keep_retries(entry: InFlightJob) -> None:
        """Each retry judged better replaces its segment's first output."""
        assert entry.retry is not None
        for index, (kept, _codes) in entry.retry.verdicts.items():
            retried = entry.retry.results[index]
            if not kept or retried.output is None:
                continue
            entry.outputs[index] = retried.output
            entry.confidence[index], entry.ended[index] = retried.confidence, retried.ended
            if retried.attention is not None:
                entry.attention[index] = (tuple(entry.retry_items[index].tokens),
                                          retried.attention)
            if entry.translated.pop(index, None) is not None:
                entry.cached -= 1  # a cached suspect, now decoded again

    @staticmethod
    def _assembled(
        entry: InFlightJob, engine: Engine, bounds: tuple[float, float] | None
    ) -> tuple[RestoredJob, Reviewed]:
        """The translations restored, then reviewed by the guards (in the pool)."""
        restored = Completion._restored(entry, engine)
        return restored, review(entry.job, restored.translations, entry.confidence,
                                entry.ended, bounds)

    @staticmethod
    def _restored(entry: InFlightJob, engine: Engine) -> RestoredJob:
        """Markup codes and terms put back, the terminology report (lifecycle/markup_steps.py);
        the identity without markup or terminology."""
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
