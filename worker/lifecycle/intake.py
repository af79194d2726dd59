"""Intake: what one received message becomes (parse, admit, tokenize), decided, not done.

:meth:`Intake.admit` returns the outcome (``outcomes.py``) and the driver (``driver.py``)
executes it: a message that is not a job is dead-lettered, an invalid job is answered with
``job.failed``, a job whose cancel came first with ``job.cancelled``, a redelivery of a result
already confirmed is acked, a redelivery of a job still computing is adopted, and a job to
translate is admitted (``Admit``: the driver puts it in the job table and the scheduler, or
the quarantine when it was redelivered too often).

Stages that answer segments without the model go into :meth:`Intake._work_items` (blank
segments, cache hits); stages that change what the model sees go between parsing and
tokenizing.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from concurrent.futures import Executor

from mtq.core.callback_policy import NetworkPolicy
from mtq.core.contract import ErrorCode, InvalidJob, NotAJob, parse_job
from mtq.core.events import CancelledEvent, JobStats
from mtq.core.settings import Settings
from worker.batching.items import WorkItem
from worker.broker.message import Delivery
from worker.cache import CachedTranslation, SegmentReuse
from worker.compute.tokenizing import JobEncoder
from worker.engines.model_set import ModelSet
from worker.lifecycle.admission import blocked_reason, job_limits, size_problem
from worker.lifecycle.control.registry import CancelRegistry
from worker.lifecycle.jobs import InFlightJob
from worker.lifecycle.jobtable import JobTable
from worker.lifecycle.markup_steps import model_inputs
from worker.lifecycle.outbox import Outbox
from worker.lifecycle.outcomes import (
    AckJob,
    Admit,
    DeadLetter,
    Hold,
    JobOutcome,
    Publish,
    Requeue,
    fail,
)
from worker.lifecycle.recovery import Recovery
from worker.terms import GlossaryResolver

log = logging.getLogger(__name__)


class Intake:
    def __init__(
        self, settings: Settings, models: ModelSet, table: JobTable, *, recovery: Recovery,
        outbox: Outbox, pool: Executor, reuse: SegmentReuse,
        glossaries: GlossaryResolver | None = None, cancels: CancelRegistry | None = None,
    ) -> None:
        self._settings = settings
        self._models = models
        self._table = table
        self._recovery = recovery
        self._outbox = outbox
        self._tokens = JobEncoder(pool)
        self._reuse = reuse  # the translation cache, asked before anything is scheduled
        self._limits = job_limits(settings)
        self._policy = NetworkPolicy.from_settings(settings)
        self._glossaries = glossaries or GlossaryResolver(None)
        self._cancels = cancels or CancelRegistry(0)  # recent cancels (lifecycle/control)

    async def admit(self, delivery: Delivery) -> JobOutcome:
        """Decide what the message becomes."""
        if self._table.draining:
            return Requeue("draining")
        if delivery.redelivered:
            known = self._known_redelivery(delivery)
            if known is not None:
                return known
        route = delivery.route
        try:
            job = parse_job(delivery.message.body, self._limits, routes=(route,))
        except NotAJob as exc:
            log.warning("message %s on %s is not a job: %s", delivery.label, route, exc.reason)
            return DeadLetter(exc.reason)
        except InvalidJob as exc:
            blocked = blocked_reason(exc.callback_url, self._policy)
            return DeadLetter(blocked) if blocked is not None else _rejected(exc)
        blocked = blocked_reason(job.callback_url, self._policy)
        if blocked is not None:
            log.warning("job %s: callback refused up front: %s", job.job_id, blocked)
            return DeadLetter(blocked)
        served = self._models.serve(job)
        if served is None:  # never a translation into some other language
            return _rejected(InvalidJob.for_job(
                job, ErrorCode.UNSUPPORTED_LANGUAGE_PAIR, self._models.unsupported(job)
            ))
        if await self._cancels.is_cancelled(job.job_id, job.tenant):  # before any work on it
            log.info("job %s: cancelled before it was picked up", job.job_id)
            stats = JobStats(len(job.segments), _waited_ms(delivery), 0)
            return Publish(CancelledEvent(job, (None,) * len(job.segments), served.engine.info,
                                          stats), job.callback_url)
        # The model travels in the decode options: batches form per model (engines/model_set.py).
        job = dataclasses.replace(job, options=served.options(job.options))
        try:  # options.glossary_id: the stored glossary's entries and version (worker/terms)
            job = await self._glossaries.resolve(job)
        except InvalidJob as exc:
            return _rejected(exc)
        # Masked when the job has markup or terminology options; attention for those segments.
        segments, align = model_inputs(job)
        tokens = await self._tokens.encode(served, segments)
        too_large = size_problem(
            tokens, served.engine.max_source_tokens, self._settings.max_job_tokens
        )
        if too_large is not None:
            return _rejected(InvalidJob.for_job(job, ErrorCode.JOB_TOO_LARGE, too_large))
        keys, hits = await self._reuse.lookup_job(served.engine.info, job)
        entry = InFlightJob(job=job, delivery=delivery, published_at=_timestamp(delivery),
                            cache_keys=tuple(keys))
        work = self._work_items(entry, tokens, served.pair.target_prefix, hits, align)
        threshold = self._settings.solo_after_deliveries
        alone = bool(threshold) and delivery.delivery_count >= threshold
        return Admit(entry, work, alone=alone)

    @staticmethod
    def _work_items(
        entry: InFlightJob, tokens: list[list[int]], prefix: tuple[int, ...],
        hits: dict[int, CachedTranslation], align: list[bool],
    ) -> list[WorkItem]:
        """The segments that need the model; the others (blank, cached) are answered here."""
        work: list[WorkItem] = []
        for index, (text, ids) in enumerate(zip(entry.job.segments, tokens, strict=True)):
            if index in hits:  # the translation cache knows it
                entry.outputs[index] = []
                hit = hits[index]
                entry.translated[index] = hit.text
                entry.confidence[index], entry.ended[index] = hit.confidence, hit.finished
                entry.cached += 1
            elif text.strip():
                work.append(WorkItem(index, ids, prefix, align=align[index]))
            else:
                entry.outputs[index] = []
                entry.translated[index] = ""
            if text.strip() and entry.job.vouch.on_suspect == "retry":  # a cached one too
                entry.retry_items[index] = WorkItem(index, ids, prefix, align=align[index])
        entry.remaining = len(work)
        return work

    def _known_redelivery(self, delivery: Delivery) -> JobOutcome | None:
        """A redelivery of a job this worker is still computing or already published."""
        if self._recovery.adopt(delivery):
            return Hold("adopted")
        hook_id = self._outbox.take(delivery.fingerprint)
        if hook_id is not None:
            log.info("job %s: result %s was confirmed before the connection loss; acking "
                     "the redelivery", delivery.label, hook_id)
            return AckJob("result already confirmed")
        return None


def _rejected(exc: InvalidJob) -> JobOutcome:
    log.info("job %s rejected: %s", exc.job_id, exc)
    return fail(exc)


def _waited_ms(delivery: Delivery) -> int:
    published = _timestamp(delivery)
    return 0 if published is None else int(1000 * max(0.0, time.time() - published))


def _timestamp(delivery: Delivery) -> float | None:
    stamp = delivery.message.timestamp
    return stamp.timestamp() if stamp is not None else None
