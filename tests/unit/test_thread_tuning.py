"""The thread tuner is a pure function of measured timings: given timings, given decisions."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mtq.core.errors import ConfigError
from mtq.core.settings import Settings
from worker.engines.cpu.threads import ct2_plan, torch_plan
from worker.engines.cpu.tuning import (
    GIVE_UP_AFTER,
    Threads,
    Trial,
    choose,
    ct2_candidates,
    torch_candidates,
    tune,
)


class FakeClock:
    """Time advances only when a measurement 'takes' it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def measuring(
    timings: dict[Threads, float], clock: FakeClock, cost: float = 1.0
) -> tuple[Callable[[Threads, float], float], list[Threads]]:
    calls: list[Threads] = []

    def measure(threads: Threads, give_up_s: float) -> float:
        calls.append(threads)
        clock.now += cost
        return timings[threads]

    return measure, calls


def test_picks_the_fastest() -> None:
    timings = {Threads(2): 0.60, Threads(1): 0.10, Threads(1, 2): 0.30}
    clock = FakeClock()
    measure, _ = measuring(timings, clock)
    result = tune(list(timings), measure, bound_s=60, clock=clock)
    assert result.chosen == Threads(1)
    assert result.how == "measured"
    assert {t.threads: t.seconds for t in result.trials} == timings
    assert "<- chosen" in result.table()


def test_keeps_each_configurations_best_time_over_rounds() -> None:
    rounds = iter([0.25, 0.2, 0.1, 0.3])  # round 1: A slowed by a burst elsewhere, B; round 2
    clock = FakeClock()

    def measure(threads: Threads, give_up_s: float) -> float:
        clock.now += 1
        return next(rounds)

    result = tune([Threads(1), Threads(2)], measure, bound_s=60, clock=clock, rounds=2)
    assert {t.threads: t.seconds for t in result.trials} == {Threads(1): 0.1, Threads(2): 0.2}
    assert result.chosen == Threads(1)


def test_clear_losers_are_not_measured_again() -> None:
    timings = {Threads(1): 0.10, Threads(2): 0.12, Threads(1, 2): 0.90}
    clock = FakeClock()
    measure, calls = measuring(timings, clock)
    tune(list(timings), measure, bound_s=60, clock=clock, rounds=2)
    assert calls == [Threads(1), Threads(2), Threads(1, 2), Threads(1), Threads(2)]


def test_a_measurement_is_told_when_to_give_up() -> None:
    limits: list[float] = []
    clock = FakeClock()

    def measure(threads: Threads, give_up_s: float) -> float:
        limits.append(give_up_s)
        clock.now += 1
        return {Threads(1): 0.2, Threads(2): 5.0}[threads]

    tune([Threads(1), Threads(2)], measure, bound_s=60, clock=clock)
    assert limits[0] == float("inf") and limits[1] == pytest.approx(0.2 * GIVE_UP_AFTER)


def test_near_tie_goes_to_fewer_cores() -> None:
    trials = [Trial(Threads(4), 1.00), Trial(Threads(3), 1.03), Trial(Threads(1), 1.50)]
    assert choose(trials) == Threads(3)
    assert choose(trials, near_tie=0.0) == Threads(4)


def test_respects_the_time_bound() -> None:
    timings = {Threads(1): 0.5, Threads(2): 0.4, Threads(4): 0.1}
    clock = FakeClock()
    measure, calls = measuring(timings, clock, cost=4.0)
    result = tune(list(timings), measure, bound_s=9, clock=clock)
    assert calls == [Threads(1), Threads(2)]  # a third 4 s measurement would end past 9 s
    assert result.skipped == (Threads(4),)
    assert result.chosen == Threads(2)
    assert result.spent_s <= 9


def test_the_first_candidate_is_measured_even_past_the_bound() -> None:
    clock = FakeClock()
    measure, calls = measuring({Threads(1): 1.0, Threads(2): 0.1}, clock, cost=30.0)
    result = tune([Threads(1), Threads(2)], measure, bound_s=5, clock=clock)
    assert calls == [Threads(1)]
    assert result.chosen == Threads(1)


def test_a_single_candidate_is_not_measured() -> None:
    clock = FakeClock()
    measure, calls = measuring({Threads(3): 1.0}, clock)
    result = tune([Threads(3)], measure, bound_s=60, clock=clock)
    assert calls == [] and result.chosen == Threads(3) and result.how == "only candidate"


def test_candidates_stay_within_the_usable_cpus() -> None:
    assert torch_candidates(1) == [Threads(1)]
    assert torch_candidates(2) == [Threads(1), Threads(2)]
    assert [t.intra for t in torch_candidates(8)] == [7, 8, 4, 2, 1]
    two = ct2_candidates(2)
    assert two[0] == Threads(1, 1) and set(two) == {Threads(1), Threads(2), Threads(1, 2)}
    assert all(t.cores <= 16 for t in ct2_candidates(16))
    assert Threads(4, 4) in ct2_candidates(16) and Threads(1, 16) in ct2_candidates(16)


def test_explicit_ct2_settings_are_kept_in_every_candidate() -> None:
    assert all(t.intra == 1 for t in ct2_candidates(8, intra=1))
    assert ct2_candidates(8, intra=1)[0] == Threads(1, 7)
    assert {t.replicas for t in ct2_candidates(8, intra=1)} == {4, 7, 8}
    assert all(t.replicas == 2 for t in ct2_candidates(8, replicas=2))
    assert ct2_candidates(2, intra=8) == [Threads(8, 1)]  # beyond the CPUs: still the user's


def test_explicit_settings_win_over_measuring() -> None:
    plan = ct2_plan(Settings(intra_threads=2, inter_threads=3), "cpu", cpus=16)
    assert (plan.initial, plan.how, plan.candidates) == (Threads(2, 3), "explicit", [])
    plan = torch_plan(Settings(torch_threads=5), "cpu", cpus=16)
    assert (plan.initial, plan.how, plan.candidates) == (Threads(5), "explicit", [])


def test_defaults_measure_on_cpu_only() -> None:
    plan = torch_plan(Settings(), "cpu", cpus=4)
    assert plan.how == "pending" and plan.initial == Threads(3) and len(plan.candidates) > 1
    plan = ct2_plan(Settings(), "cpu", cpus=4)
    assert plan.how == "pending" and plan.initial == Threads(3, 1)
    assert ct2_plan(Settings(), "cuda", cpus=4).candidates == []
    assert torch_plan(Settings(), "cuda", cpus=4).candidates == []


def test_a_zero_bound_keeps_the_rules_of_thumb() -> None:
    off = Settings(thread_tuning_s=0)
    assert torch_plan(off, "cpu", cpus=4).initial == Threads(3)
    assert ct2_plan(off, "cpu", cpus=4).initial == Threads(4, 1)
    assert ct2_plan(off.replace(inter_threads=2), "cpu", cpus=4).initial == Threads(2, 2)
    assert ct2_plan(off, "cpu", cpus=4).how == "rule"


def test_negative_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="MTQ_INTER_THREADS"):
        ct2_plan(Settings(inter_threads=-1), "cpu", cpus=2)
    with pytest.raises(ConfigError, match="MTQ_TORCH_THREADS"):
        torch_plan(Settings(torch_threads=-1), "cpu", cpus=2)
    with pytest.raises(ConfigError, match="MTQ_THREAD_TUNING_S"):
        torch_plan(Settings(thread_tuning_s=-1), "cpu", cpus=2)
