"""Choosing a CPU engine's threading from measured timings (docs/engines.md).

How many intra-op threads (and, for CTranslate2, how many replicas) run fastest depends on the
model's size, the batch shapes, the cores the pod really has and what else runs beside the
engine; a rule from the core count cannot know it. So at start each CPU engine times a probe
batch under a few candidate configurations and keeps the fastest. This module is the pure
part: which candidates, in which order, when to stop (the time bound), which one wins. The
engines supply ``measure`` (apply a configuration, time the probe) and the clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar

_T = TypeVar("_T", bound=Hashable)

# Later rounds re-measure only configurations within this factor of the best so far, and one
# measurement stops repeating its probe once a run is this many times slower than the best:
# a clear loser is not worth the start-up time.
RECHECK_WITHIN = 2.0
GIVE_UP_AFTER = 3.0
# A configuration using fewer cores wins when it is within this share of the fastest: the
# probe runs the engine alone, while in production the event loop and the tokenizer pool
# share those cores, so a near-tie goes to the one that leaves them room.
NEAR_TIE = 0.05


@dataclass(frozen=True)
class Threads:
    """One configuration: intra-op threads per replica, and replicas (CTranslate2 only)."""

    intra: int
    replicas: int = 1

    @property
    def cores(self) -> int:
        return self.intra * self.replicas

    def describe(self) -> str:
        if self.replicas == 1:
            return f"{self.intra} thread(s)"
        return f"{self.replicas} replicas x {self.intra} thread(s)"


@dataclass(frozen=True)
class Trial:
    """The best (lowest) time one configuration took for the probe batch."""

    threads: Threads
    seconds: float


@dataclass(frozen=True)
class Tuning:
    """What was chosen, how, and the table behind it (empty unless measured)."""

    chosen: Threads
    # "measured", "checked under traffic" (worker/engines/cpu/live_check.py), "explicit",
    # "only candidate", "rule" (tuning off or not on CPU)
    how: str
    trials: tuple[Trial, ...] = ()
    skipped: tuple[Threads, ...] = ()  # not measured: the time bound was reached
    spent_s: float = 0.0
    probe_segments: int = 0
    at_start: Threads | None = None  # the start-up choice, once a later check changed it

    def table(self) -> str:
        """The measured table, one line per configuration, for the log and the docs."""
        lines = [f"{'configuration':28s} {'probe s':>8s} {'seg/s':>8s}"]
        first = self.at_start or self.chosen
        for trial in self.trials:
            rate = self.probe_segments / trial.seconds if trial.seconds > 0 else math.inf
            mark = "  <- chosen" if trial.threads == first else ""
            lines.append(f"{trial.threads.describe():28s} {trial.seconds:8.3f} {rate:8.1f}{mark}")
        lines += [f"{t.describe():28s} {'skipped (time bound)':>17s}" for t in self.skipped]
        if first != self.chosen:
            lines.append(f"then {self.how}: {self.chosen.describe()}")
        return "\n".join(lines)


def torch_candidates(cpus: int) -> list[Threads]:
    """Intra-op thread counts for torch: one core left free first, then all, then halvings."""
    counts = [max(1, cpus - 1), cpus]
    half = cpus // 2
    while half >= 1:
        counts.append(half)
        half //= 2
    return [Threads(n) for n in _unique(counts)]


def ct2_candidates(cpus: int, intra: int = 0, replicas: int = 0) -> list[Threads]:
    """Replicas x threads that fill the usable CPUs (or all but one), fixed values kept.

    ``intra`` / ``replicas`` of 0 are free; a positive value is an explicit setting and every
    candidate keeps it. The first candidate is the one tried when time allows only one.
    """
    counts = [2**k for k in range(cpus.bit_length()) if 2**k <= cpus]
    if intra:  # replicas that fill the CPUs at the given threads per replica
        counts = [max(1, (cpus - 1) // intra), max(1, cpus // intra), *counts]
    found = [
        Threads(total // count, count)
        for count in counts for total in (max(1, cpus - 1), cpus) if total // count >= 1
    ]
    kept = [
        t for t in _unique(found)
        if (intra == 0 or t.intra == intra) and (replicas == 0 or t.replicas == replicas)
    ]
    if not kept:  # explicit values beyond the usable CPUs: the user's choice stands
        kept = [Threads(intra or max(1, cpus // max(1, replicas)), replicas or 1)]
    return kept


def choose(trials: Sequence[Trial], near_tie: float = NEAR_TIE) -> Threads:
    """The fastest configuration; among those within ``near_tie`` of it, the fewest cores."""
    if not trials:
        raise ValueError("no measured configuration to choose from")
    fastest = min(trial.seconds for trial in trials)
    close = [trial for trial in trials if trial.seconds <= fastest * (1 + near_tie)]
    best = min(close, key=lambda t: (t.threads.cores, t.threads.replicas, t.seconds))
    return best.threads


def tune(
    candidates: Sequence[Threads], measure: Callable[[Threads, float], float], bound_s: float,
    clock: Callable[[], float], rounds: int = 3, probe_segments: int = 0,
) -> Tuning:
    """Measure ``candidates`` in order, in ``rounds`` passes, within ``bound_s`` seconds.

    ``measure(threads, give_up_s)`` returns the probe's seconds under a configuration (it may
    stop repeating once a run exceeds ``give_up_s``). The first candidate is always measured;
    another is started only when the time spent so far plus the longest measurement yet still
    fits the bound. Later rounds re-measure the close ones (interleaved, so a burst of load
    elsewhere does not sink one configuration) and keep each configuration's best time.
    """
    if not candidates:
        raise ValueError("no candidate configuration")
    if len(candidates) == 1:
        return Tuning(candidates[0], "only candidate", probe_segments=probe_segments)
    start = clock()
    best: dict[Threads, float] = {}
    longest = 0.0
    skipped: list[Threads] = []
    for round_index in range(rounds):
        if round_index == 0:
            todo = list(candidates)
        else:
            fastest = min(best.values())
            todo = [c for c in candidates if c in best and best[c] <= fastest * RECHECK_WITHIN]
            if len(todo) < 2:
                break
        for candidate in todo:
            if best and clock() - start + longest > bound_s:
                if round_index == 0:
                    skipped.append(candidate)
                continue
            give_up = min(best.values(), default=math.inf) * GIVE_UP_AFTER
            began = clock()
            seconds = measure(candidate, give_up)
            longest = max(longest, clock() - began)
            best[candidate] = min(best.get(candidate, math.inf), seconds)
        if skipped:
            break
    trials = tuple(Trial(c, best[c]) for c in candidates if c in best)
    return Tuning(
        choose(trials), "measured", trials, tuple(skipped), spent_s=clock() - start,
        probe_segments=probe_segments,
    )


def _unique(items: Sequence[_T]) -> list[_T]:
    return list(dict.fromkeys(items))
