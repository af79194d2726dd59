"""How many jobs a worker holds unacked: sized in segments, not in messages. Pure logic.

RabbitMQ's prefetch counts messages, but batches are made of segments. With a fixed prefetch
of 16, 1-segment jobs give the scheduler at most 16 segments to choose from, far below one
batch, while 512-segment jobs let one pod hoard 8k segments that other pods could have taken.

The rule (docs/architecture.md, "Intake window"): keep about ``target_segments`` segments in
flight, enough for a few full batches, so

    window = clamp(ceil(target_segments / segments_per_job) + 1, floor, ceiling)

where ``segments_per_job`` is a moving average of the jobs admitted recently (the ``+ 1`` keeps
the next job arriving while the last segments of the current ones are in the engine). The
window only changes when the proposal differs from the current one by at least
``HYSTERESIS`` (each change re-subscribes the consumer), and never more often than every
``min_interval_s``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mtq.settings import Settings

HYSTERESIS = 1.5  # change only when the new window is at least 1.5× larger or smaller
SMOOTHING = 0.2  # weight of the newest job in the moving average


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
                   floor=min(2, settings.prefetch_max), ceiling=settings.prefetch_max)

    def window_for(self, segments_per_job: float) -> int:
        wanted = math.ceil(self.target_segments / max(segments_per_job, 1.0)) + 1
        return max(self.floor, min(self.ceiling, wanted))


class IntakeWindow:
    """Tracks job sizes and proposes a new prefetch when the rule says it should change."""

    def __init__(self, rule: WindowRule, initial: int | None = None) -> None:
        self.rule = rule
        self.current = rule.floor if initial is None else initial
        self._segments_per_job: float | None = None
        self._changed_at: float | None = None

    @property
    def segments_per_job(self) -> float | None:
        return self._segments_per_job

    def observe(self, segments: int) -> None:
        """A job of ``segments`` segments was admitted."""
        size = float(max(segments, 1))
        if self._segments_per_job is None:
            self._segments_per_job = size
        else:
            self._segments_per_job += SMOOTHING * (size - self._segments_per_job)

    def propose(self, now: float) -> int | None:
        """The new window if it should change now, else ``None``."""
        if self._segments_per_job is None:
            return None
        if self._changed_at is not None and now - self._changed_at < self.rule.min_interval_s:
            return None
        wanted = self.rule.window_for(self._segments_per_job)
        if wanted == self.current:
            return None
        ratio = wanted / self.current
        at_a_bound = wanted in (self.rule.floor, self.rule.ceiling)
        if not at_a_bound and 1 / HYSTERESIS < ratio < HYSTERESIS:
            return None
        return wanted

    def applied(self, window: int, now: float) -> None:
        """The consumer now runs with ``window``."""
        self.current = window
        self._changed_at = now
