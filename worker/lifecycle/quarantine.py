"""The quarantine of redelivered jobs and the order they run alone in.

A job delivered ``MTQ_SOLO_AFTER_DELIVERIES`` times or more may be the one that crashed the
process last time. :class:`Quarantine` holds such jobs and decides their order; the solo runner
(``solo.py``) starts them one at a time. The order is what keeps a poison job from using up
the delivery limit of the healthy jobs delivered with it (docs/reliability.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from worker.lifecycle.jobs import InFlightJob


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
