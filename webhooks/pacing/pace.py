"""Per-host concurrency that adapts to the receiver (AIMD). Pure: no I/O, the clock is passed in.

Each receiver host gets a window of deliveries at once, like a TCP congestion window:

- it starts at 1 and doubles per round trip while every answer is quick (slow start), then
  grows by one per window of answers (additive increase), never past the ceiling
  (``MTQ_WEBHOOK_PER_HOST``);
- a failure (timeout, connection error, 5xx, 429) halves it (multiplicative decrease) and
  ends slow start; a ``Retry-After`` also pauses the host until then;
- an answer much slower than the host's usual latency (``SLOW_RATIO`` times the baseline, a
  floor that follows the fastest recent answers and drifts up slowly) does not grow it and
  trims it by ``SLOW_TRIM``: the receiver is queueing, more parallel requests only add delay;
- only one decrease per window: answers to requests that started before the last decrease
  carry old news and are not counted again (TCP's once-per-round-trip rule), so a burst of
  timeouts from one stall halves the window once, not to nothing.

Other answers (4xx but 429) say nothing about load: the receiver answered, promptly.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

INITIAL = 1.0
BACKOFF = 0.5
SLOW_TRIM = 0.9
SLOW_RATIO = 2.0
SLOW_MARGIN_S = 0.05  # below this, latency differences are noise, not queueing
BASELINE_DRIFT = 0.05  # how fast the baseline follows answers slower than it


class Signal(enum.Enum):
    OK = "ok"  # answered (2xx, or a 4xx that is not about load)
    FAILED = "failed"  # timeout, connection error, 5xx, 429


@dataclass(frozen=True)
class Feedback:
    """What one HTTP try said about its host."""

    signal: Signal
    latency_s: float
    retry_after_s: float | None = None
    answered: bool = True  # an HTTP status came back (a timeout or refused connection: no)


class AdaptiveLimit:
    def __init__(self, ceiling: int) -> None:
        if ceiling < 1:
            raise ValueError("the ceiling must be at least 1")
        self.ceiling = ceiling
        self.limit = min(INITIAL, float(ceiling))
        self.slow_start_until = float(ceiling)
        self.baseline_s: float | None = None
        self.last_decrease = -math.inf
        self.paused_until = -math.inf
        self.failing = False  # the latest answer was a failure

    @property
    def window(self) -> int:
        """Deliveries allowed at once right now."""
        return max(1, int(self.limit))

    def paused(self, now: float) -> bool:
        return now < self.paused_until

    def record(self, feedback: Feedback, started: float, now: float) -> None:
        """Account one try that started at ``started`` and ended at ``now``."""
        if feedback.signal is Signal.FAILED:
            self.failing = True
            if feedback.retry_after_s is not None:
                self.paused_until = max(self.paused_until, now + feedback.retry_after_s)
            if self._decrease(BACKOFF, started, now):
                self.slow_start_until = self.limit
            return
        self.failing = False
        if self._is_slow(feedback.latency_s):
            self._decrease(SLOW_TRIM, started, now)
        elif self.limit < self.slow_start_until:
            self.limit = min(float(self.ceiling), self.limit + 1.0)
        else:
            self.limit = min(float(self.ceiling), self.limit + 1.0 / self.limit)
        self._follow(feedback.latency_s)

    def _is_slow(self, latency_s: float) -> bool:
        baseline = self.baseline_s
        return (baseline is not None and latency_s > SLOW_RATIO * baseline
                and latency_s - baseline > SLOW_MARGIN_S)

    def _follow(self, latency_s: float) -> None:
        if self.baseline_s is None or latency_s < self.baseline_s:
            self.baseline_s = latency_s
        else:
            self.baseline_s += BASELINE_DRIFT * (latency_s - self.baseline_s)

    def _decrease(self, factor: float, started: float, now: float) -> bool:
        if started < self.last_decrease:
            return False
        self.limit = max(1.0, self.limit * factor)
        self.last_decrease = now
        return True
