"""Checking the start-up threading under real traffic (torch on CPU). Pure logic.

The start-up probe (worker/engines/probe.py) times the engine alone on a quiet machine, and
there more intra-op threads often win. Under traffic the same cores also run the event loop
and, where pods have no CPU limit, other processes (a broker, a dispatcher, other pods); an
OpenMP thread that loses its core then stalls the others at every step, and fewer threads
win. Measured on the 2-core machine (``python -m bench contention``, docs/engines.md): the
probe batch took 0.10 s with 2 threads against 0.13 s with 1 on the quiet machine, and
0.19 s against 0.13 s beside a process busy 60% of a core.

So a torch engine whose start-up choice uses more cores than its cheapest measured
alternative checks the two on real batches once traffic arrives: ``window`` batches under
each, the throughput compared by work done (rows x beam x (longest source + longest output)
per second of ``generate``), the choice made as at start (:func:`~worker.engines.cpu.tuning.choose`:
the fastest, a near-tie to the fewer cores). The check repeats every ``period_s`` against the
other configuration, so a machine whose load changes later is followed too; a start-up
choice that already uses the fewest cores is first re-checked after ``period_s``, since the
error a quiet start makes is towards more threads, not fewer. Changing torch's thread count between
batches costs nothing, so this needs no reload (a CTranslate2 engine would have to load its
replicas again, and keeps its start-up choice).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from worker.engines.cpu.tuning import Threads, Trial, Tuning, choose

WINDOW_BATCHES = 3
# The first batch after a switch starts the thread pool and is not timed.
SKIP_AFTER_SWITCH = 1


@dataclass
class LiveCheck:
    """Which threading the next batch runs with, and what the timed batches decide."""

    current: Threads
    other: Threads
    period_s: float
    next_check_at: float  # monotonic time of the next check (0: at the first batch)
    window: int = WINDOW_BATCHES
    checks: int = 0  # checks completed
    _measuring: list[Threads] = field(default_factory=list)  # configurations still to time
    _work: dict[Threads, float] = field(default_factory=dict)
    _seconds: dict[Threads, float] = field(default_factory=dict)
    _timed: dict[Threads, int] = field(default_factory=dict)
    _skip: int = 0
    _last: Threads | None = None
    last_trials: tuple[Trial, ...] = ()  # the last check: seconds per unit of work

    @classmethod
    def after_start(cls, tuning: Tuning, period_s: float, now: float) -> LiveCheck | None:
        """The check for a start-up measurement, or ``None`` (nothing measured, or off)."""
        if period_s <= 0 or tuning.how != "measured" or len(tuning.trials) < 2:
            return None
        chosen = tuning.chosen
        cheaper = [t for t in tuning.trials if t.threads.cores < chosen.cores]
        if cheaper:  # check at once: the quiet start may have favoured more threads
            other = min(cheaper, key=lambda t: t.seconds).threads
            return cls(chosen, other, period_s, next_check_at=0.0)
        others = [t for t in tuning.trials if t.threads != chosen]
        other = min(others, key=lambda t: t.seconds).threads
        return cls(chosen, other, period_s, next_check_at=now + period_s)

    @property
    def checking(self) -> bool:
        return bool(self._measuring)

    def threads_for_next_batch(self, now: float) -> Threads:
        """The configuration the next batch should run with (starting a check when due)."""
        if not self._measuring and now >= self.next_check_at:
            self._measuring = [self.current, self.other]
            self._work.clear()
            self._seconds.clear()
            self._timed.clear()
        chosen = self._measuring[0] if self._measuring else self.current
        if chosen != self._last:
            self._skip = SKIP_AFTER_SWITCH if self._last is not None else 0
            self._last = chosen
        return chosen

    def record(self, threads: Threads, work: float, seconds: float, now: float
               ) -> Threads | None:
        """A batch of ``work`` units took ``seconds`` under ``threads``; the configuration to
        keep when this completes a check (the same or the other one), else ``None``."""
        if not self._measuring or threads != self._measuring[0]:
            return None
        if self._skip:
            self._skip -= 1
            return None
        if work <= 0 or seconds <= 0:
            return None
        self._work[threads] = self._work.get(threads, 0.0) + work
        self._seconds[threads] = self._seconds.get(threads, 0.0) + seconds
        self._timed[threads] = self._timed.get(threads, 0) + 1
        if self._timed[threads] < self.window:
            return None
        self._measuring.pop(0)
        if self._measuring:
            return None
        return self._decide(now)

    def _decide(self, now: float) -> Threads:
        # Seconds per unit of work: the lower the faster, as Trial.seconds is at start.
        self.last_trials = tuple(Trial(t, self._seconds[t] / self._work[t])
                                 for t in (self.current, self.other))
        winner = choose(self.last_trials)
        if winner != self.current:
            self.current, self.other = winner, self.current
        self.checks += 1
        self.next_check_at = now + self.period_s
        return self.current

    def describe(self) -> str:
        """The last check's table, for the log."""
        lines = [f"{'configuration':28s} {'µs per unit':>12s}"]
        for trial in self.last_trials:
            mark = "  <- kept" if trial.threads == self.current else ""
            lines.append(f"{trial.threads.describe():28s} {1e6 * trial.seconds:12.3f}{mark}")
        return "\n".join(lines)


def batch_work(rows: int, beam_size: int, longest_source: int, longest_output: int) -> float:
    """The units a batch's time is compared by: positions computed, padding included."""
    return float(rows * max(1, beam_size) * (longest_source + longest_output))
