"""What should happen to a job message: the typed outcomes the lifecycle's steps return.

Intake (``intake.py``), completion (``completion.py``), recovery and drain decide; they never
ack, requeue or start anything themselves. :class:`~worker.lifecycle.driver.Lifecycle` is the
one driver that executes an outcome (settling through
:class:`~worker.lifecycle.settler.JobSettler`), the way ``webhooks/policy.py`` decides and
``webhooks/settle.py`` acts on the dispatcher side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mtq.core.contract import DecodeOptions, InvalidJob
from mtq.core.events import CancelledEvent, FailedEvent, ResultEvent
from worker.batching.items import WorkItem
from worker.lifecycle.jobs import InFlightJob


@dataclass(frozen=True)
class AckJob:
    """Done with it, nothing to publish (a result already confirmed before a connection loss)."""

    why: str


@dataclass(frozen=True)
class Requeue:
    """Give it back to the broker now (another worker, or this one later, takes it)."""

    why: str


@dataclass(frozen=True)
class DeadLetter:
    """Not answerable by webhook: move it to its route's dead-letter queue with the reason."""

    reason: str


@dataclass(frozen=True)
class Publish:
    """Publish the job's result event (confirmed), then ack."""

    event: ResultEvent
    callback_url: str

    @property
    def outcome(self) -> str:
        """The ``outcome`` label of ``mtq_jobs_total``: ``completed``, ``cancelled`` or the
        error code."""
        event = self.event
        if isinstance(event, CancelledEvent):
            return "cancelled"
        return event.code.value if isinstance(event, FailedEvent) else "completed"


@dataclass(frozen=True)
class Admit:
    """A job to hold: it enters the job table, then the scheduler, or the quarantine when it
    was delivered too often to run beside others (``alone``)."""

    entry: InFlightJob
    work: list[WorkItem] = field(default_factory=list)
    alone: bool = False


@dataclass(frozen=True)
class Hold:
    """Nothing to settle now: the job is already held (adopted after a link loss)."""

    why: str


@dataclass(frozen=True)
class RetrySuspects:
    """Decode a reviewed job's suspect segments again (``options.on_suspect: "retry"``): queue
    ``work`` (by retry options) and answer the job when it is back."""

    entry: InFlightJob
    work: list[tuple[DecodeOptions, list[WorkItem]]]


JobOutcome = AckJob | Requeue | DeadLetter | Publish | Admit | Hold


def fail(exc: InvalidJob) -> Publish:
    """An invalid job that can be answered: ``job.failed`` with the exception's code."""
    return Publish(
        FailedEvent(exc.job_id, exc.code, exc.message, exc.metadata, exc.tenant), exc.callback_url
    )
