"""The ``length_ratio`` bounds: calibrated per model and pair from the model's own outputs.

A running estimate of the mean and spread of log(output chars / source chars) over the
segments a worker translated for one model and pair, counting only outputs no other guard
flagged, and only sources of at least :data:`MIN_SOURCE_CHARS` characters (the ratio of a
two-word segment says little). Bounds exist once :data:`MIN_SAMPLES` outputs were seen:
the mean ± max(:data:`SIGMAS` standard deviations, log :data:`MIN_FACTOR`), back in ratio
space. The count stops growing at :data:`MAX_WEIGHT`, so the estimate keeps following the
traffic. Per process, so a restarted worker calibrates again (docs/vouch.md).
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass

MIN_SAMPLES = 50
MIN_SOURCE_CHARS = 12
SIGMAS = 4.0
MIN_FACTOR = 2.0  # never flag an output within half to twice the usual ratio
MAX_WEIGHT = 10_000


@dataclass
class _Running:
    count: int = 0
    mean: float = 0.0
    m2: float = 0.0  # sum of squared deviations (Welford)


class LengthCalibration:
    def __init__(self) -> None:
        self._by_key: dict[Hashable, _Running] = {}

    def bounds(self, key: Hashable) -> tuple[float, float] | None:
        """(lowest, highest) usual output/source length ratio for ``key``; None until known."""
        running = self._by_key.get(key)
        if running is None or running.count < MIN_SAMPLES:
            return None
        spread = math.sqrt(running.m2 / (running.count - 1))
        half = max(SIGMAS * spread, math.log(MIN_FACTOR))
        return math.exp(running.mean - half), math.exp(running.mean + half)

    def observe(self, key: Hashable, source: str, output: str) -> None:
        """Count one output no other guard flagged."""
        chars, produced = len(source.strip()), len(output.strip())
        if chars < MIN_SOURCE_CHARS or produced == 0:
            return
        value = math.log(produced / chars)
        running = self._by_key.setdefault(key, _Running())
        running.count = min(running.count + 1, MAX_WEIGHT)
        delta = value - running.mean
        running.mean += delta / running.count
        running.m2 += delta * (value - running.mean)
        if running.count == MAX_WEIGHT:  # keep m2 on the same capped weight as the mean
            running.m2 *= (MAX_WEIGHT - 1) / MAX_WEIGHT
