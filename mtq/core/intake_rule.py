"""The intake window's rule: how many jobs a worker holds for a given job size. Pure.

The worker applies it (``worker/batching/intake_window.py``) and ``mtq plan`` recommends KEDA's
``value`` with it, so both read the same numbers:

    window = clamp(ceil(target_segments / segments_per_job) + 1, floor, ceiling)

where ``target_segments`` is ``MTQ_INTAKE_SEGMENTS`` (segments the worker wants in flight,
a few full batches), the floor 2 and the ceiling ``MTQ_PREFETCH_MAX``. The ``+ 1`` keeps the
next job arriving while the last segments of the current ones are in the engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mtq.core.settings import Settings

FLOOR = 2


@dataclass(frozen=True)
class WindowRule:
    target_segments: int  # segments the worker wants in flight
    floor: int  # fewest jobs held (at least 1)
    ceiling: int  # most jobs held
    min_interval_s: float = 2.0

    def __post_init__(self) -> None:
        if not 1 <= self.floor <= self.ceiling:
            raise ValueError("the intake window needs 1 <= floor <= ceiling")
        if self.target_segments < 1:
            raise ValueError("target_segments must be at least 1")

    @classmethod
    def from_settings(cls, settings: Settings) -> WindowRule:
        return cls(target_segments=max(settings.intake_segments, 1),
                   floor=min(FLOOR, settings.prefetch_max), ceiling=settings.prefetch_max)

    def window_for(self, segments_per_job: float) -> int:
        wanted = math.ceil(self.target_segments / max(segments_per_job, 1.0)) + 1
        return max(self.floor, min(self.ceiling, wanted))
