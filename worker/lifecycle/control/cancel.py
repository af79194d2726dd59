"""A cancel applied to the jobs this worker holds.

For each held job the cancel matches (same ``job_id``; same tenant when the cancel names one)
and that is not answered yet: its segments still waiting for a batch are taken out of the
scheduler (or out of the quarantine), it stops waiting on identical segments of other jobs
that are still waiting (in-flight dedup; flights it owned move to the jobs that share them),
and what is already in a batch finishes. The job is answered with ``job.cancelled`` when its
last batch is done, at once when nothing of it was in one. Batch-mates are not touched. A job
already answered (completed, failed, or being published) is left alone: the cancel is a no-op.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from mtq.core.control import CancelRequest
from worker.batching.queue import BatchQueue
from worker.cache import SegmentReuse
from worker.cache.dedup import Rehomed
from worker.lifecycle.jobs import InFlightJob
from worker.lifecycle.jobtable import JobTable

log = logging.getLogger(__name__)


@dataclass
class Cancelled:
    """What a cancel did: jobs to answer now, flights other jobs must enqueue, drops."""

    answer: list[InFlightJob] = field(default_factory=list)
    moved: list[Rehomed[Any]] = field(default_factory=list)
    jobs: int = 0
    dropped: int = 0


class Canceller:
    def __init__(self, table: JobTable, queue: BatchQueue, reuse: SegmentReuse) -> None:
        self._table = table
        self._queue = queue
        self._reuse = reuse

    def apply(self, request: CancelRequest) -> Cancelled:
        done = Cancelled()
        for entry in list(self._table.jobs.values()):
            job = entry.job
            if not request.matches(job.job_id, job.tenant) or not self.cancellable(entry):
                continue
            dropped = self._drop(entry, done)
            done.jobs += 1
            done.dropped += dropped
            log.info("job %s: cancelled; %d segments dropped, %d still in a batch",
                     job.job_id, dropped, entry.remaining)
            if entry.remaining == 0:
                done.answer.append(entry)
        return done

    @staticmethod
    def cancellable(entry: InFlightJob) -> bool:
        """Not answered yet: no segment failed, not cancelled before, segments to come."""
        return not (entry.failed or entry.cancelled) and entry.remaining > 0

    def _drop(self, entry: InFlightJob, done: Cancelled) -> int:
        """Take the job's unbatched segments away; how many of them will never be computed."""
        entry.cancelled = True
        if self._table.quarantine.discard(entry.key) is not None:  # never started
            waiting = [item.index for item in entry.held]
            entry.held = []
        else:
            waiting = self._queue.take_waiting(entry.key)
        gone, moved = self._reuse.cancel(entry.key, waiting,
                                         lambda holder: self._queue.is_waiting(*holder))
        done.moved += moved
        dropped = [index for index in gone if entry.outputs[index] is None]
        entry.remaining -= len(dropped)
        return len(dropped)
