"""In-flight jobs and the quarantine of redelivered ones. Lives on the event loop only.

:class:`InFlightJob` tracks which segments of one delivery are done. :class:`Quarantine` holds
redelivered jobs (``x-delivery-count`` at or above ``MTQ_SOLO_AFTER_DELIVERIES``) until the
worker runs them one at a time, alone; its order is what keeps a poison job from using up the
delivery limit of the healthy jobs that were delivered with it (docs/reliability.md).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from mtq.contract import Job, JobStats
from worker.settle import Delivery

_sequence = itertools.count(1)


@dataclass
class InFlightJob:
    """One delivery of one job. The same job id delivered twice is two entries."""

    job: Job
    delivery: Delivery
    published_at: float | None  # wall clock, from the message timestamp when the client set it
    received_wall: float = field(default_factory=time.time)
    received_mono: float = field(default_factory=time.monotonic)
    key: str = ""
    outputs: list[list[int] | None] = field(default_factory=list)
    translated: dict[int, str] = field(default_factory=dict)  # segments answered without the model
    remaining: int = 0
    first_started: float | None = None
    last_finished: float | None = None
    failed: bool = False
    # Its delivery died with a connection; a redelivery of the same body is adopted (app.py).
    orphaned: bool = False
    # Work held back while the job waits in the quarantine: (index, tokens, text).
    held: list[tuple[int, Sequence[int], str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.key = f"{self.job.job_id}#{next(_sequence)}"
        self.outputs = [None] * len(self.job.segments)

    @property
    def started(self) -> bool:
        return self.first_started is not None

    @property
    def fingerprint(self) -> str:
        return self.delivery.fingerprint

    def record(self, index: int, output: list[int], started: float, finished: float) -> bool:
        """Store one segment's output; True when that completed the job."""
        if self.outputs[index] is None:
            self.outputs[index] = output
            self.remaining -= 1
        self.first_started = started if self.first_started is None else min(
            self.first_started, started
        )
        self.last_finished = finished if self.last_finished is None else max(
            self.last_finished, finished
        )
        return self.remaining == 0

    def stats(self) -> JobStats:
        waited_before_receipt = 0.0
        if self.published_at is not None:
            waited_before_receipt = max(0.0, self.received_wall - self.published_at)
        started = self.first_started if self.first_started is not None else time.monotonic()
        finished = self.last_finished if self.last_finished is not None else started
        return JobStats(
            segments=len(self.job.segments),
            queue_ms=int(1000 * (waited_before_receipt + max(0.0, started - self.received_mono))),
            compute_ms=int(1000 * max(0.0, finished - started)),
        )


class Quarantine:
    """Redelivered jobs waiting to run alone.

    The worker runs one of them only when nothing else it holds is unacked, so a crash during
    that run costs a delivery to the jobs still waiting here and to nobody else. Who waits is
    decided by the order, planned once per round (the set the worker holds when it starts the
    first of them): jobs on their last delivery first, then the others in arrival order,
    rotated by the highest delivery count modulo their number. After a crash the broker hands
    the same window back with every count one higher, so the rotation moves on and the jobs
    that waited behind the culprit go first next time. docs/reliability.md has the bound this
    gives (a poison job costs a healthy neighbour at most three deliveries) and
    tests/faults/test_fault_units.py replays it.
    """

    def __init__(self, delivery_limit: int) -> None:
        self._delivery_limit = delivery_limit
        self._waiting: dict[str, InFlightJob] = {}
        self._plan: list[str] = []

    def __len__(self) -> int:
        return len(self._waiting)

    def __contains__(self, key: object) -> bool:
        return key in self._waiting

    def __iter__(self) -> Iterator[InFlightJob]:
        return iter(list(self._waiting.values()))

    def add(self, entry: InFlightJob) -> None:
        self._waiting[entry.key] = entry

    def discard(self, key: str) -> InFlightJob | None:
        return self._waiting.pop(key, None)

    def take_all(self) -> list[InFlightJob]:
        entries = list(self._waiting.values())
        self._waiting.clear()
        self._plan = []
        return entries

    def next(self) -> InFlightJob | None:
        """Remove and return the job to run next, or ``None`` when empty."""
        while self._waiting:
            if not self._plan:
                planned = run_order(list(self._waiting.values()), self._delivery_limit)
                self._plan = [entry.key for entry in planned]
            entry = self._waiting.pop(self._plan.pop(0), None)
            if entry is not None:
                return entry
        self._plan = []
        return None


def run_order(entries: list[InFlightJob], delivery_limit: int) -> list[InFlightJob]:
    """The quarantine's order for one round (see :class:`Quarantine`)."""
    if not entries:
        return []
    arrived = sorted(entries, key=lambda e: e.delivery.arrival)
    start = max(e.delivery.delivery_count for e in arrived) % len(arrived)
    rotated = arrived[start:] + arrived[:start]
    last = [e for e in rotated if e.delivery.delivery_count >= delivery_limit]
    return last + [e for e in rotated if e.delivery.delivery_count < delivery_limit]
