"""The lifecycle's driver: it runs each step and executes what the step decided.

Intake, completion, recovery and drain return outcomes (``outcomes.py``); :class:`Lifecycle`
is the one place that carries them out: it settles through the
:class:`~worker.lifecycle.settler.JobSettler`, puts admitted jobs in the job table and the
scheduler (or the quarantine), answers finished jobs, hands back stale and unstarted ones and
follows job sizes with the intake window. Nothing here calls up into the composition root
(``worker/app.py``), which only wires this to the broker link and the inference thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor
from typing import Any

from mtq.core.contract import JobLimits
from mtq.core.control import InvalidControl, parse_control
from mtq.core.events import CompletedEvent
from mtq.core.settings import Settings
from worker.batching.fairness import DEFAULT_TENANT, Lane
from worker.batching.intake_window import IntakeWindow
from worker.batching.items import WorkItem
from worker.batching.queue import BatchQueue
from worker.broker.message import Delivery, JobMessage
from worker.cache import SegmentReuse
from worker.cache.dedup import Rehomed
from worker.compute.inference import SegmentResult
from worker.engines.model_set import ModelSet
from worker.lifecycle import drain
from worker.lifecycle.completion import Answer, Completion
from worker.lifecycle.control.cancel import Canceller
from worker.lifecycle.control.progress import ProgressReporter
from worker.lifecycle.control.registry import CancelRegistry
from worker.lifecycle.intake import Intake
from worker.lifecycle.jobs import InFlightJob
from worker.lifecycle.jobtable import JobTable
from worker.lifecycle.outbox import Outbox
from worker.lifecycle.outcomes import Admit, JobOutcome, Publish, Requeue, RetrySuspects
from worker.lifecycle.ports import Link
from worker.lifecycle.recovery import Recovery
from worker.lifecycle.settler import JobSettler
from worker.lifecycle.solo import SoloRunner
from worker.metrics import WorkerMetrics
from worker.tasks import TaskSet
from worker.terms import GlossaryCache, GlossaryResolver

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, Any]], None]


class Lifecycle:
    """Every job the worker holds, from receipt to its ack."""

    def __init__(
        self, settings: Settings, models: ModelSet, queue: BatchQueue, link: Link, *,
        metrics: WorkerMetrics, pool: Executor, reuse: SegmentReuse,
        window: IntakeWindow | None = None, control: Spawn,
    ) -> None:
        self._settings = settings
        self._queue = queue
        self._link = link
        self._metrics = metrics
        self._reuse = reuse
        self._window = window
        self._control = control  # the worker's own tasks (intake switches, window resizes)
        self.settling = TaskSet("settling")  # tasks that answer a job: the drain waits
        # Told of every job.completed once it is settled (registry/shadow.py).
        self.completed_observers: list[Callable[[CompletedEvent], None]] = []
        self.table = JobTable(settings.delivery_limit, metrics.inflight_jobs,
                              on_forget=self._released)
        self.outbox = Outbox(link, settings.result_publish_timeout_s)
        self.settler = JobSettler(link, self.outbox, metrics)
        self.solo = SoloRunner(self.table, link.set_consuming, control, self.start)
        self.recovery = Recovery(self.table, queue, settings.consumer_timeout_s)
        self.completion = Completion(models, self.table, metrics=metrics, pool=pool,
                                     reuse=reuse, limits=JobLimits.from_settings(settings))
        store = (GlossaryCache(settings.database_url, settings.glossary_schema,
                               settings.glossary_ttl_s) if settings.database_url else None)
        self.glossaries = GlossaryResolver(store)  # options.glossary_id (worker/terms)
        # Cancel and progress (lifecycle/control/).
        self.cancels = CancelRegistry.from_settings(settings,
                                                    metrics.cancel_store_errors_total.inc)
        self.canceller = Canceller(self.table, queue, reuse)
        self.progress = ProgressReporter(self.table, link, settings.progress_interval_s,
                                         settings.progress_max_events,
                                         metrics.progress_events_total)
        self.intake = Intake(settings, models, self.table, recovery=self.recovery,
                             outbox=self.outbox, pool=pool, reuse=reuse,
                             glossaries=self.glossaries, cancels=self.cancels)

    # -- intake ------------------------------------------------------------------------------

    async def receive(self, message: JobMessage, route: str, lane: Lane = Lane.BULK) -> None:
        """The error boundary of one message: whatever happens, it is settled or held."""
        delivery = Delivery(message, route, lane)
        self.table.receiving += 1
        try:
            try:
                outcome = await self.intake.admit(delivery)
            except Exception:  # one message must never take the worker down
                log.exception("job %s: unexpected error; requeueing", delivery.label)
                outcome = Requeue("unexpected error")
            await self.execute(outcome, delivery)
        finally:
            self.table.receiving -= 1
            self.solo.pump()

    async def execute(
        self, outcome: JobOutcome, delivery: Delivery, entry: InFlightJob | None = None
    ) -> bool:
        """Carry out ``outcome`` for ``delivery`` (of ``entry``, once held)."""
        if isinstance(outcome, Admit):
            self._admit(outcome)
            return True
        return await self.settler.settle(outcome, delivery, entry)

    def _admit(self, admit: Admit) -> None:
        entry = admit.entry
        self.table.add(entry)
        if self.cancels.cancelled(entry.job.job_id, entry.job.tenant):  # came while admitting
            self._metrics.segments_dropped_total.inc(entry.remaining)
            entry.cancelled, entry.remaining = True, 0
            entry.outputs = [None] * len(entry.outputs)  # as at intake: every translation null
            self._answer(Answer(entry))
        elif admit.alone:
            self.solo.hold(entry, admit.work)
        else:
            self.start(entry, admit.work)

    def start(self, entry: InFlightJob, work: list[WorkItem]) -> None:
        """An admitted job's segments go to the scheduler; one with none left is answered."""
        lane = entry.delivery.lane
        if lane is Lane.BULK:
            self._observe_job_size(len(entry.job.segments))
        # In-flight dedup: segments identical to one already waiting or running join it.
        tenant = entry.job.tenant or DEFAULT_TENANT
        fresh = self._reuse.claim(entry.key, entry.job.options, work, entry.cache_keys,
                                  group=(lane, tenant))
        if fresh:
            self._queue.add(entry.key, entry.job.options, fresh, lane=lane, tenant=tenant)
        elif not work:
            self._answer(Answer(entry))

    def _released(self, entry: InFlightJob) -> None:
        """A job left: the dedup flights it owned are computed for the jobs still holding them."""
        self._enqueue_moved(self._reuse.release(entry.key))

    def _enqueue_moved(self, flights: list[Rehomed[Any]]) -> None:
        for moved in flights:
            owner = self.table.get(str(moved.job_key))
            if owner is not None:
                self._queue.add(owner.key, owner.job.options, moved.work,
                                lane=owner.delivery.lane,
                                tenant=owner.job.tenant or DEFAULT_TENANT)

    def _observe_job_size(self, segments: int) -> None:
        """The intake window follows the size of bulk jobs (``intake_window.py``)."""
        window = self._window
        if window is None:
            return
        window.observe(segments)
        now = time.monotonic()
        proposal = window.propose(now)
        if proposal is not None:
            log.info("intake window: %d -> %d jobs (%.1f segments per job)",
                     window.current, proposal, window.segments_per_job or 0)
            window.applied(proposal, now)
            self._metrics.intake_window.set(proposal)
            self._control(self._link.resize(Lane.BULK, proposal))

    # -- completion --------------------------------------------------------------------------

    def on_results(self, results: list[SegmentResult]) -> None:
        """Segment results, on the event loop: answer every job they finish."""
        for answer in self.completion.on_results(results):
            if answer.failure is not None:
                self._queue.cancel(answer.entry.key)
            self._answer(answer)

    def _answer(self, answer: Answer) -> None:
        self.settling.spawn(self._settle_answer(answer))

    async def _settle_answer(self, answer: Answer) -> None:
        entry = answer.entry
        retrying = False
        try:
            outcome = await self.completion.result(answer)
            if isinstance(outcome, RetrySuspects):  # answered when the retries are back
                retrying = True
                self._retry(outcome)
                return
            await self.execute(outcome, entry.delivery, entry)
            if isinstance(outcome, Publish) and isinstance(outcome.event, CompletedEvent):
                for observe in self.completed_observers:  # e.g. the shadow (never blocks)
                    observe(outcome.event)
        finally:
            if not retrying:
                self.table.forget(entry)
                self.solo.pump()

    def _retry(self, retry: RetrySuspects) -> None:
        """A job's suspect segments, queued again with their retry options (worker/vouch)."""
        entry = retry.entry
        tenant = entry.job.tenant or DEFAULT_TENANT
        for options, items in retry.work:
            self._queue.add(entry.key, options, items, lane=entry.delivery.lane, tenant=tenant)

    # -- control -----------------------------------------------------------------------------

    async def on_control(self, body: bytes, *, pending: bool) -> None:
        """A control message: this worker's copy, or (``pending``) the one kept for workers
        that start later, which goes to the shared cancel store too. Never raises."""
        try:
            request = parse_control(body)
        except InvalidControl as exc:
            log.warning("control message dropped: %s", exc)
            self._metrics.control_messages_total.labels(outcome="invalid").inc()
            return
        self.cancels.remember(request)
        if pending:
            await self.cancels.share(request)
        done = self.canceller.apply(request)
        self._enqueue_moved(done.moved)
        self._metrics.segments_dropped_total.inc(done.dropped)
        self._metrics.control_messages_total.labels(
            outcome="applied" if done.jobs else "remembered").inc()
        for entry in done.answer:
            self._answer(Answer(entry))

    # -- recovery ----------------------------------------------------------------------------

    def on_link_lost(self) -> None:
        self.recovery.on_link_lost()
        self.solo.pump()

    async def hand_back_stale(self, stop: asyncio.Event) -> None:
        """Requeue jobs still waiting at half the consumer timeout, until ``stop``."""
        while not stop.is_set():
            await asyncio.sleep(min(10.0, self.recovery.stale_after_s / 10))
            for entry in self.recovery.stale(time.monotonic()):
                self.table.forget(entry)
                self.solo.pump()
                await self.execute(Requeue("not started in time"), entry.delivery, entry)

    # -- the stop ----------------------------------------------------------------------------

    async def drain(self, timeout_s: float, abandon: asyncio.Event) -> None:
        """Hand back what has not started, then wait for the rest (docs/reliability.md)."""
        self.table.draining = True
        deadline = time.monotonic() + timeout_s
        try:
            await asyncio.wait_for(self._link.set_consuming(False), timeout=5)
        except Exception as exc:  # a lost link stops consuming by itself
            log.debug("draining: consumers not cancelled (%s)", exc)
        requeued = 0
        for entry in self.table.quarantine.take_all():
            self.table.forget(entry)
            requeued += await self.execute(Requeue("draining"), entry.delivery, entry)
        for entry in list(self.table.jobs.values()):
            if not drain.take_unstarted(entry, self._queue):
                continue
            self.table.forget(entry)
            if not entry.orphaned:  # an orphan's delivery died: the broker has it already
                requeued += await self.execute(Requeue("draining"), entry.delivery, entry)
        self._queue.drain()
        log.info("draining: %d jobs requeued, %d in flight", requeued, len(self.table))
        await drain.wait_for_in_flight(self.table, lambda: len(self.settling), deadline,
                                       abandon)
