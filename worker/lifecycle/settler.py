"""The one place where a job message is settled: :class:`JobSettler` carries out an outcome.

Intake, completion, recovery and drain decide *what* should happen (``outcomes.py``); the
driver (``driver.py``) hands every settling outcome to :meth:`JobSettler.settle`. Moving a
message anywhere is always publish-with-confirm first, ack second: a result event to
``mtq.results`` (through the outbox, which retries), a dead letter to the route's ``.dead``
queue. When the publish is not confirmed the job is requeued, never acked: a duplicate is
possible, a loss is not. Nothing here raises for a broker failure.
"""

from __future__ import annotations

import logging
import time

from worker.broker.message import Delivery
from worker.lifecycle.jobs import InFlightJob
from worker.lifecycle.outbox import Outbox
from worker.lifecycle.outcomes import AckJob, Admit, DeadLetter, Hold, JobOutcome, Publish, Requeue
from worker.lifecycle.ports import Link
from worker.metrics import WorkerMetrics

log = logging.getLogger(__name__)

DEAD_LETTER_WAIT_S = 10.0


class JobSettler:
    def __init__(self, link: Link, outbox: Outbox, metrics: WorkerMetrics) -> None:
        self._link = link
        self._outbox = outbox
        self._metrics = metrics

    async def settle(
        self, outcome: JobOutcome, delivery: Delivery, job: InFlightJob | None = None
    ) -> bool:
        """Carry out ``outcome`` for ``delivery`` (the message of ``job``, once admitted).

        A job's delivery can change while its result is being published (a redelivery after a
        connection loss is adopted), so for an admitted job the current one is read from it.
        ``False`` when the message could not be settled as decided (its channel died, or a
        publish was not confirmed and it was requeued instead).
        """
        if isinstance(outcome, (Hold, Admit)):  # held: settled when the job is answered
            return True
        if job is not None:
            delivery = job.delivery
        label = job.job.job_id if job is not None else delivery.label
        if isinstance(outcome, AckJob):
            log.debug("message %s: ack (%s)", label, outcome.why)
            return await delivery.ack(label)
        if isinstance(outcome, Requeue):
            log.debug("message %s: requeue (%s)", label, outcome.why)
            return await delivery.requeue(label)
        if isinstance(outcome, DeadLetter):
            return await self._dead_letter(delivery, outcome.reason)
        return await self._publish(outcome, delivery, job)

    async def _dead_letter(self, delivery: Delivery, reason: str) -> bool:
        """Move a message aside with its reason (publish confirmed, then ack)."""
        message = delivery.message
        try:
            publisher = await self._link.publisher(DEAD_LETTER_WAIT_S)
            await publisher.dead_letter(
                message.body, dict(message.headers or {}), delivery.route, reason,
                message_id=message.message_id,
            )
        except Exception as exc:  # unconfirmed: hand it back, never ack
            log.error("message %s: dead letter not confirmed (%s); requeueing it",
                      delivery.label, exc)
            await delivery.requeue(delivery.label)
            return False
        self._metrics.dead_lettered_total.inc()
        return await delivery.ack(delivery.label)

    async def _publish(self, outcome: Publish, delivery: Delivery, job: InFlightJob | None
                       ) -> bool:
        def current() -> Delivery:  # an admitted job's delivery changes when it is adopted
            return job.delivery if job is not None else delivery

        event = outcome.event
        job_id = event.job_id
        try:
            hook_id = await self._outbox.publish(
                event, outcome.callback_url, job_id, current().delivery_count
            )
        except Exception as exc:  # unconfirmed: hand the job back, never ack
            log.error("job %s: result not confirmed (%s); requeueing the job", job_id, exc)
            await current().requeue(job_id)
            return False
        acked_on = current()
        acked = await acked_on.ack(job_id)
        if current() is not acked_on:  # a redelivery was adopted while that ack failed
            acked_on = current()
            acked = await acked_on.ack(job_id)
        if not acked:
            self._outbox.remember(acked_on.fingerprint, hook_id)
        metrics = self._metrics
        metrics.jobs_total.labels(outcome=outcome.outcome).inc()
        if outcome.outcome == "cancelled":
            stage = "running" if job is not None and job.started else "waiting"
            metrics.jobs_cancelled_total.labels(stage=stage).inc()
        metrics.job_delivery_count.observe(acked_on.delivery_count)
        if job is not None:
            metrics.job_seconds.observe(time.monotonic() - job.received_mono)
            log.info("job %s: %s (webhook %s, x-delivery-count %d)", job_id, event.type,
                     hook_id, acked_on.delivery_count)
        return acked
