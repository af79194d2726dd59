"""The scheduler's thread-safe front: the event loop adds and cancels, the inference thread waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence

from mtq.core.contract import DecodeOptions
from worker.batching.fairness import DEFAULT_TENANT, Lane
from worker.batching.items import Batch, WorkItem
from worker.batching.scheduler import Scheduler


class BatchQueue:
    """Thread-safe front of the :class:`Scheduler`.

    The event loop adds and cancels work; the inference thread blocks in :meth:`get` until a
    batch is due. Every call holds the lock for microseconds, so the loop never stalls.
    """

    def __init__(self, scheduler: Scheduler, clock: Callable[[], float] = time.monotonic) -> None:
        self._scheduler = scheduler
        self._cond = threading.Condition()
        self._clock = clock
        self._draining = False
        self._closed = False

    def add(
        self, job_key: Hashable, options: DecodeOptions, items: Sequence[WorkItem],
        *, lane: Lane = Lane.BULK, tenant: str = DEFAULT_TENANT,
    ) -> None:
        with self._cond:
            self._scheduler.add(job_key, options, items, self._clock(), lane=lane, tenant=tenant)
            self._cond.notify()

    def cancel(self, job_key: Hashable) -> int:
        with self._cond:
            return self._scheduler.cancel(job_key)

    def take_waiting(self, job_key: Hashable) -> list[int]:
        with self._cond:
            return self._scheduler.take_waiting(job_key)

    def is_waiting(self, job_key: Hashable, index: int) -> bool:
        with self._cond:
            return self._scheduler.is_waiting(job_key, index)

    def withdraw_unstarted(self, job_key: Hashable, expected: int) -> bool:
        with self._cond:
            return self._scheduler.withdraw_unstarted(job_key, expected)

    def waiting(self) -> int:
        """Segments waiting for a batch (the shadow waits for none)."""
        with self._cond:
            return self._scheduler.waiting

    def shrink_budget(self) -> int:
        with self._cond:
            return self._scheduler.shrink_budget()

    @property
    def token_budget(self) -> int:
        return self._scheduler.token_budget

    def drain(self) -> None:
        """Stop waiting for batches to fill: dispatch what is queued at once."""
        with self._cond:
            self._draining = True
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def get(self) -> Batch | None:
        """Block until a batch is due; None once closed."""
        with self._cond:
            while not self._closed:
                now = self._clock()
                batch = self._scheduler.next_batch(now, force=self._draining)
                if batch is not None:
                    return batch
                self._cond.wait(self._scheduler.seconds_until_ready(now))
            return None
