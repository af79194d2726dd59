"""Which threading a CPU engine starts with, and whether it still measures at warm-up.

Explicit settings win (``MTQ_TORCH_THREADS``; ``MTQ_INTRA_THREADS`` / ``MTQ_INTER_THREADS``);
what they leave free is measured during warm-up (worker/engines/probe.py) within
``MTQ_THREAD_TUNING_S`` seconds. With that bound at 0 the old rules apply: torch gets the
usable CPUs minus one, CTranslate2 the usable CPUs shared out among the replicas.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mtq.core.cpus import usable_cpus
from mtq.core.errors import ConfigError
from mtq.core.settings import Settings
from worker.engines.cpu.tuning import Threads, Tuning, ct2_candidates, torch_candidates
from worker.engines.probe import Generate, Probe, measure_threading


@dataclass
class ThreadPlan:
    """The configuration to load first, and the candidates still to measure (maybe none)."""

    initial: Threads
    how: str
    bound_s: float = 0.0
    candidates: list[Threads] = field(default_factory=list)

    def settled(self) -> Tuning:
        return Tuning(self.initial, self.how)

    def measure(self, apply: Callable[[Threads], None], generate: Generate, probe: Probe) -> Tuning:
        """Measure once (later calls return the settled choice); leaves the engine on it."""
        if not self.candidates:
            return self.settled()
        tuning = measure_threading(self.candidates, apply, generate, probe, self.bound_s)
        self.initial, self.how, self.candidates = tuning.chosen, tuning.how, []
        return tuning


def torch_plan(settings: Settings, device: str, cpus: int | None = None) -> ThreadPlan:
    """torch intra-op threads: ``MTQ_TORCH_THREADS``, else measured, else CPUs minus one."""
    _check_bound(settings)
    if settings.torch_threads < 0:
        raise ConfigError("MTQ_TORCH_THREADS must be >= 0 (0: measured at start)")
    if device != "cpu":
        return ThreadPlan(Threads(0), "not on CPU")
    if settings.torch_threads > 0:
        return ThreadPlan(Threads(settings.torch_threads), "explicit")
    cpus = usable_cpus() if cpus is None else cpus
    if settings.thread_tuning_s <= 0:
        return ThreadPlan(Threads(max(1, cpus - 1)), "rule")
    return _measured(torch_candidates(cpus), settings.thread_tuning_s)


def ct2_plan(settings: Settings, device: str, cpus: int | None = None) -> ThreadPlan:
    """CTranslate2 replicas x intra threads: explicit values kept, the rest measured on CPU."""
    _check_bound(settings)
    intra, replicas = settings.intra_threads, settings.inter_threads
    if intra < 0 or replicas < 0:
        raise ConfigError("MTQ_INTER_THREADS and MTQ_INTRA_THREADS must be >= 0 (0: measured)")
    if device != "cpu":  # one replica per GPU; CTranslate2's own default threads
        return ThreadPlan(Threads(intra, replicas or 1), "not on CPU")
    if intra > 0 and replicas > 0:
        return ThreadPlan(Threads(intra, replicas), "explicit")
    cpus = usable_cpus() if cpus is None else cpus
    if settings.thread_tuning_s <= 0:
        replicas = replicas or 1
        return ThreadPlan(Threads(intra or max(1, cpus // replicas), replicas), "rule")
    return _measured(ct2_candidates(cpus, intra, replicas), settings.thread_tuning_s)


def _measured(candidates: list[Threads], bound_s: float) -> ThreadPlan:
    if len(candidates) == 1:
        return ThreadPlan(candidates[0], "only candidate")
    return ThreadPlan(candidates[0], "pending", bound_s, candidates)


def _check_bound(settings: Settings) -> None:
    if settings.thread_tuning_s < 0:
        raise ConfigError("MTQ_THREAD_TUNING_S must be >= 0 (0: no measuring)")
    if settings.thread_recheck_s < 0:
        raise ConfigError("MTQ_THREAD_RECHECK_S must be >= 0 (0: no re-checking)")
