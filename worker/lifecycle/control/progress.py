"""``job.progress`` events: a ticker looks at the jobs held and publishes the ones due.

Best effort: an event that is not confirmed is logged and forgotten (the final event is what
counts, and a later progress event says more anyway). Those of jobs with ``options.progress:
true`` go to ``mtq.results`` like every result, for the dispatcher to POST; the others go to
the same exchange with the routing key ``mtq.progress``, which only the gateway's queue binds
(``worker/broker/publisher.py``). Cancelled and failed jobs report no more progress.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from prometheus_client import Counter

from mtq.core.events import ProgressEvent
from worker.lifecycle.control.throttle import ProgressThrottle
from worker.lifecycle.jobs import InFlightJob
from worker.lifecycle.jobtable import JobTable
from worker.lifecycle.ports import Link

log = logging.getLogger(__name__)

PUBLISH_WAIT_S = 5.0


class ProgressReporter:
    def __init__(
        self, table: JobTable, link: Link, interval_s: float, max_events: int,
        published: Counter, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._table = table
        self._link = link
        self.interval_s = interval_s
        self.max_events = max_events
        self._published = published
        self._clock = clock
        self._throttles: dict[str, ProgressThrottle] = {}

    def due(self) -> list[tuple[InFlightJob, ProgressEvent]]:
        """The events due now (each recorded as sent); forgets jobs that left."""
        now = self._clock()
        jobs = self._table.jobs
        for key in [key for key in self._throttles if key not in jobs]:
            del self._throttles[key]
        events = []
        for key, entry in jobs.items():
            if entry.failed or entry.cancelled or not entry.started:
                continue
            total = len(entry.job.segments)
            done = total - entry.remaining
            throttle = self._throttles.setdefault(
                key, ProgressThrottle(self.interval_s, self.max_events))
            if throttle.due(now, done, total):
                throttle.record(now, done)
                events.append((entry, ProgressEvent(entry.job, done)))
        return events

    async def run(self, stop: asyncio.Event) -> None:
        """Publish what is due, a few times per interval, until ``stop``."""
        if self.max_events <= 0:
            return
        tick = min(1.0, max(0.05, self.interval_s / 4))
        while not stop.is_set():
            await asyncio.sleep(tick)
            due = self.due()
            if due:
                await asyncio.gather(*(self._publish(entry, event) for entry, event in due))

    async def _publish(self, entry: InFlightJob, event: ProgressEvent) -> None:
        try:
            publisher = await self._link.publisher(PUBLISH_WAIT_S)
            await publisher.publish_event(event, entry.job.callback_url,
                                          entry.delivery.delivery_count)
        except Exception as exc:  # best effort: the final event is the one that counts
            log.info("job %s: progress %d/%d not published (%s)", event.job_id, event.done,
                     len(entry.job.segments), exc)
            return
        self._published.inc()
