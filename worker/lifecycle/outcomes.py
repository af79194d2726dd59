"""What should happen to a job message: the typed outcome intake and completion return.

Intake (``intake.py``), completion (``completion.py``), recovery and drain decide; they never ack
or requeue themselves. :class:`~worker.lifecycle.settler.Settler` is the one executor, the
way ``webhooks/policy.py`` decides and ``webhooks/settle.py`` acts on the dispatcher side.
"""

from __future__ import annotations

from dataclasses import dataclass

from mtq.core.contract import InvalidJob
from mtq.core.events import FailedEvent, ResultEvent


@dataclass(frozen=True)
class Ack:
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
        """The ``outcome`` label of ``mtq_jobs_total``: ``completed`` or the error code."""
        event = self.event
        return event.code.value if isinstance(event, FailedEvent) else "completed"


@dataclass(frozen=True)
class Hold:
    """Nothing to settle now: the job is admitted (or adopted) and is settled when it is done."""

    why: str


Outcome = Ack | Requeue | DeadLetter | Publish | Hold


def fail(exc: InvalidJob) -> Publish:
    """An invalid job that can be answered: ``job.failed`` with the exception's code."""
    return Publish(
        FailedEvent(exc.job_id, exc.code, exc.message, exc.metadata, exc.tenant), exc.callback_url
    )
