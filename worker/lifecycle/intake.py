"""Intake: what one received message becomes (parse, admit, tokenize), decided, then settled.

:meth:`Intake.receive` is the error boundary of one message: whatever happens, it is settled.
:meth:`Intake.admit` returns the outcome (``outcomes.py``) and the settler executes it:
a message that is not a job is dead-lettered, an invalid job is answered with ``job.failed``,
a redelivery of a result already confirmed is acked, and an admitted job is held (it enters
the job table and the scheduler, or the quarantine when it was redelivered too often).

Stages that answer segments without the model go into :meth:`Intake._work_items` (blank
segments today); stages that change what the model sees go between parsing and tokenizing.
"""

from __future__ import annotations

import dataclasses
import logging
from concurrent.futures import Executor

from mtq.core.callback_policy import NetworkPolicy
from mtq.core.contract import ErrorCode, InvalidJob, Job, NotAJob, parse_job
from mtq.core.settings import Settings
from worker.batching.fairness import Lane
from worker.batching.items import WorkItem
from worker.broker.message import Delivery, JobMessage
from worker.cache import SegmentReuse
from worker.compute.tokenizing import JobEncoder
from worker.engines.model_set import ModelSet
from worker.lifecycle.admission import blocked_reason, job_limits, size_problem
from worker.lifecycle.jobs import InFlightJob
from worker.lifecycle.jobtable import JobTable
from worker.lifecycle.markup_steps import model_texts
from worker.lifecycle.outbox import Outbox
from worker.lifecycle.outcomes import Ack, DeadLetter, Hold, Outcome, Requeue, fail
from worker.lifecycle.recovery import Recovery
from worker.lifecycle.settler import Settler
from worker.lifecycle.solo import SoloRunner, StartJob

log = logging.getLogger(__name__)


class Intake:
    def __init__(
        self, settings: Settings, models: ModelSet, table: JobTable, *, recovery: Recovery,
        outbox: Outbox, settler: Settler, solo: SoloRunner, start: StartJob, pool: Executor,
        reuse: SegmentReuse,
    ) -> None:
        self._settings = settings
        self._models = models
        self._table = table
        self._recovery = recovery
        self._outbox = outbox
        self._settler = settler
        self._solo = solo
        self._start = start
        self._tokens = JobEncoder(pool)
        self._reuse = reuse  # the translation cache, asked before anything is scheduled
        self._limits = job_limits(settings)
        self._policy = NetworkPolicy.from_settings(settings)

    async def receive(
        self, message: JobMessage, route: str, lane: Lane = Lane.BULK
    ) -> None:
        """The error boundary of one message: whatever happens, it gets settled."""
        delivery = Delivery(message, route, lane)
        self._table.receiving += 1
        try:
            try:
                outcome = await self.admit(delivery)
            except Exception:  # one message must never take the worker down
                log.exception("job %s: unexpected error; requeueing", delivery.label)
                outcome = Requeue("unexpected error")
            await self._settler.settle(outcome, delivery)
        finally:
            self._table.receiving -= 1
            self._solo.pump()

    async def admit(self, delivery: Delivery) -> Outcome:
        """Decide what the message becomes; an admitted job is registered and started here."""
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
        # The model travels in the decode options: batches form per model (engines/model_set.py).
        job = dataclasses.replace(job, options=served.options(job.options))
        segments = model_texts(job)  # masked when the job has markup options
        tokens = await self._tokens.encode(served, segments)
        too_large = size_problem(
            tokens, served.engine.max_source_tokens, self._settings.max_job_tokens
        )
        if too_large is not None:
            return _rejected(InvalidJob.for_job(job, ErrorCode.JOB_TOO_LARGE, too_large))
        keys, hits = await self._reuse.lookup_job(served.engine.info, job)
        return self._register(job, delivery, tokens, served.pair.target_prefix, keys, hits)

    def _register(
        self, job: Job, delivery: Delivery, tokens: list[list[int]], prefix: tuple[int, ...],
        keys: list[str], hits: dict[int, str],
    ) -> Outcome:
        entry = InFlightJob(job=job, delivery=delivery, published_at=_timestamp(delivery),
                            cache_keys=tuple(keys))
        work = self._work_items(entry, tokens, prefix, hits)
        entry.remaining = len(work)
        self._table.add(entry)
        threshold = self._settings.solo_after_deliveries
        if threshold and delivery.delivery_count >= threshold:
            self._solo.hold(entry, work)
            return Hold("quarantined")
        self._start(entry, work)
        return Hold("admitted")

    @staticmethod
    def _work_items(
        entry: InFlightJob, tokens: list[list[int]], prefix: tuple[int, ...],
        hits: dict[int, str],
    ) -> list[WorkItem]:
        """The segments that need the model; the others (blank, cached) are answered here."""
        work: list[WorkItem] = []
        for index, (text, ids) in enumerate(zip(entry.job.segments, tokens, strict=True)):
            if index in hits:  # the translation cache knows it
                entry.outputs[index] = []
                entry.translated[index] = hits[index]
                entry.cached += 1
            elif text.strip():
                work.append(WorkItem(index, ids, prefix, align=entry.job.markup.active))
            else:
                entry.outputs[index] = []
                entry.translated[index] = ""
        return work

    def _known_redelivery(self, delivery: Delivery) -> Outcome | None:
        """A redelivery of a job this worker is still computing or already published."""
        if self._recovery.adopt(delivery):
            return Hold("adopted")
        hook_id = self._outbox.take(delivery.fingerprint)
        if hook_id is not None:
            log.info("job %s: result %s was confirmed before the connection loss; acking "
                     "the redelivery", delivery.label, hook_id)
            return Ack("result already confirmed")
        return None


def _rejected(exc: InvalidJob) -> Outcome:
    log.info("job %s rejected: %s", exc.job_id, exc)
    return fail(exc)


def _timestamp(delivery: Delivery) -> float | None:
    stamp = delivery.message.timestamp
    return stamp.timestamp() if stamp is not None else None
