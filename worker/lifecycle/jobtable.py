"""The job table: every job this worker holds, shared by intake, completion, recovery and drain.

It owns the bookkeeping only (who is held, whose delivery died, who runs alone, how many
messages are being received); every decision about a job lives in the module of its concern.
Lives on the event loop only.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Gauge

from worker.lifecycle.jobs import InFlightJob
from worker.lifecycle.quarantine import Quarantine


class JobTable:
    def __init__(
        self, delivery_limit: int, inflight: Gauge,
        on_forget: Callable[[InFlightJob], None] = lambda entry: None,
    ) -> None:
        self.jobs: dict[str, InFlightJob] = {}
        self.quarantine = Quarantine(delivery_limit)
        self.orphans: dict[str, InFlightJob] = {}  # fingerprint -> job whose delivery died
        self.solo: str | None = None  # key of the quarantined job running alone
        self.receiving = 0  # messages between receipt and admission
        self.draining = False
        self._inflight = inflight
        self._on_forget = on_forget  # in-flight dedup moves the flights a leaving job owned

    def __len__(self) -> int:
        return len(self.jobs)

    def get(self, key: str) -> InFlightJob | None:
        return self.jobs.get(key)

    def holds(self, entry: InFlightJob) -> bool:
        return self.jobs.get(entry.key) is entry

    def add(self, entry: InFlightJob) -> None:
        self.jobs[entry.key] = entry
        self._inflight.set(len(self.jobs))

    def orphan(self, entry: InFlightJob) -> None:
        """Its delivery died with a connection; a redelivery of the same body adopts it."""
        entry.orphaned = True
        self.orphans[entry.fingerprint] = entry

    def forget(self, entry: InFlightJob) -> None:
        """The job is settled or handed back: drop it from every list."""
        if self.jobs.get(entry.key) is entry:
            del self.jobs[entry.key]
            self._on_forget(entry)
        self.quarantine.discard(entry.key)
        if self.orphans.get(entry.fingerprint) is entry:
            del self.orphans[entry.fingerprint]
        if self.solo == entry.key:
            self.solo = None
        self._inflight.set(len(self.jobs))

    def refresh_gauge(self) -> None:
        self._inflight.set(len(self.jobs))
