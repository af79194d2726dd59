"""Running the quarantine: redelivered jobs run alone, one at a time, with intake paused.

:class:`SoloRunner` pauses intake when a job is quarantined, lets the jobs delivered before the
pause finish, then starts the quarantined ones one by one in the quarantine's order
(``quarantine.py``), and resumes intake once the quarantine is empty. A crash during a solo run
costs a delivery to that job and to nobody else.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from worker.batching.items import WorkItem
from worker.lifecycle.jobs import InFlightJob
from worker.lifecycle.jobtable import JobTable

log = logging.getLogger(__name__)

StartJob = Callable[[InFlightJob, list[WorkItem]], None]


class IntakeState(enum.Enum):
    """Whether the worker consumes new jobs; paused while a quarantined job runs alone."""

    ON = "on"
    PAUSING = "pausing"  # the consumers are being cancelled
    PAUSED = "paused"
    RESUMING = "resuming"  # the consumers are being restarted


class SoloRunner:
    """Runs the quarantine: one job at a time with nothing else unacked, then resumes intake."""

    def __init__(
        self, table: JobTable, set_consuming: Callable[[bool], Awaitable[None]],
        spawn: Callable[[Coroutine[Any, Any, Any]], None], start: StartJob,
    ) -> None:
        self._table = table
        self._set_consuming = set_consuming
        self._spawn = spawn
        self._start = start
        self.intake = IntakeState.ON
        self.active = False  # the loop runs: nothing is started before the worker is

    def hold(self, entry: InFlightJob, work: list[WorkItem]) -> None:
        """Quarantine a redelivered job; it starts when its turn comes (:meth:`pump`)."""
        entry.held = work
        self._table.quarantine.add(entry)
        log.info("job %s: delivery %d; it will run alone", entry.job.job_id,
                 entry.delivery.delivery_count + 1)

    def pump(self) -> None:
        """Take the next step; called whenever a job was received, settled or handed back."""
        table = self._table
        if not self.active or table.draining or table.solo is not None:
            return
        if not table.quarantine:
            if self.intake is IntakeState.PAUSED:
                self.intake = IntakeState.RESUMING
                self._spawn(self._switch(on=True))
            return
        if self.intake is IntakeState.ON:
            self.intake = IntakeState.PAUSING
            self._spawn(self._switch(on=False))
            return
        if self.intake is not IntakeState.PAUSED or table.receiving:
            return
        if any(key not in table.quarantine for key in table.jobs):
            return  # jobs delivered before the pause finish first
        entry = table.quarantine.next()
        assert entry is not None
        table.solo = entry.key
        log.info("job %s: running alone (delivery %d, %d more waiting)", entry.job.job_id,
                 entry.delivery.delivery_count + 1, len(table.quarantine))
        work, entry.held = entry.held, []
        self._start(entry, work)

    async def _switch(self, *, on: bool) -> None:
        try:
            await self._set_consuming(on and not self._table.draining)
        finally:
            self.intake = IntakeState.ON if on else IntakeState.PAUSED
        self.pump()
