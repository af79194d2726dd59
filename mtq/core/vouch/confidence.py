"""What an engine returns per segment, and the ``confidence`` derived from it.

``confidence`` is the exponential of the mean log-probability per generated token of the
delivered hypothesis, end-of-sentence included when it was generated. Forced tokens (a target
language prefix, an end-of-sentence forced at the token cap) are not counted: the model did not
choose them. It is model confidence, not a quality estimate (docs/vouch.md).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass


def float32(value: float) -> float:
    """``value`` as a float32, written with the fewest digits that read back as that float32
    (so the JSON carries ``0.8125``, not the 17 digits of the double it widens to)."""
    single = _single(value)
    for digits in range(1, 10):
        short = float(f"{single:.{digits}g}")
        if _single(short) == single:
            return short
    return single


def _single(value: float) -> float:
    rounded: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return rounded


def confidence_of(log_prob: float, scored: int) -> float:
    """exp(``log_prob`` / ``scored``) in [0, 1] as a float32; 1.0 when nothing was scored."""
    if scored <= 0 or math.isnan(log_prob):
        return 1.0 if scored <= 0 else 0.0
    return float32(min(1.0, max(0.0, math.exp(min(0.0, log_prob) / scored))))


@dataclass(frozen=True)
class Hypothesis:
    """One segment's delivered hypothesis.

    ``tokens`` are the output ids as the engine's ``generate`` returns them (what ``decode``
    takes); ``log_prob`` sums the log-probabilities of the ``scored`` tokens the model chose;
    ``finished`` is False when decoding stopped at the token cap without end-of-sentence.
    """

    tokens: list[int]
    log_prob: float
    scored: int
    finished: bool = True

    @property
    def confidence(self) -> float:
        return confidence_of(self.log_prob, self.scored)
