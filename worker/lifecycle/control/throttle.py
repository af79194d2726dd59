"""When a job's next ``job.progress`` event is due. Pure: the clock is passed in.

An event goes out when the job moved since the last one by at least 1/(N+1) of its segments
(``MTQ_PROGRESS_MAX_EVENTS`` = N) and at least ``MTQ_PROGRESS_INTERVAL_S`` has passed; never
more than N per job, never one with ``done`` at the total (``job.completed`` says that), and
``done`` only grows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class ProgressThrottle:
    interval_s: float
    max_events: int
    sent: int = 0
    last_at: float = -math.inf
    last_done: int = 0

    def due(self, now: float, done: int, total: int) -> bool:
        if self.sent >= self.max_events or not self.last_done < done < total:
            return False
        step = math.ceil(total / (self.max_events + 1))
        return now - self.last_at >= self.interval_s and done - self.last_done >= step

    def record(self, now: float, done: int) -> None:
        self.sent += 1
        self.last_at = now
        self.last_done = done
