"""How many jobs a worker holds unacked: sized in segments, not in messages. Pure logic.

RabbitMQ's prefetch counts messages, but batches are made of segments. With a fixed prefetch
of 16, 1-segment jobs give the scheduler at most 16 segments to choose from, far below one
batch, while 512-segment jobs let one pod hoard 8k segments that other pods could have taken.

The rule (``mtq/core/intake_rule.py``, README "Intake, lanes and tenants") keeps about
``MTQ_INTAKE_SEGMENTS`` segments in flight, for ``segments_per_job`` a moving average of the
jobs admitted recently. The window only changes when the proposal differs from the current
one by at least ``HYSTERESIS`` (each change re-subscribes the consumer), and never more
often than every ``min_interval_s``.
"""

from __future__ import annotations

from mtq.core.intake_rule import WindowRule

HYSTERESIS = 1.5  # change only when the new window is at least 1.5× larger or smaller
SMOOTHING = 0.2  # weight of the newest job in the moving average


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
