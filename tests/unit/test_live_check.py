"""The check of the start-up threading on real batches: given timings, given decisions."""

from __future__ import annotations

import pytest

from mtq.core.errors import ConfigError
from mtq.core.settings import Settings
from worker.engines.cpu.live_check import SKIP_AFTER_SWITCH, WINDOW_BATCHES, LiveCheck, batch_work
from worker.engines.cpu.threads import torch_plan
from worker.engines.cpu.tuning import Threads, Trial, Tuning

ONE, TWO = Threads(1), Threads(2)
PERIOD = 600.0


def measured(chosen: Threads, **seconds: float) -> Tuning:
    trials = tuple(Trial(Threads(int(n.removeprefix("t"))), s) for n, s in seconds.items())
    return Tuning(chosen, "measured", trials)


def run_batches(check: LiveCheck, seconds_per_unit: dict[Threads, float], now: float = 0.0,
                limit: int = 50) -> tuple[list[Threads], Threads | None]:
    """Feed batches of 100 units until a check completes; the configurations used, in order."""
    used: list[Threads] = []
    for _ in range(limit):
        threads = check.threads_for_next_batch(now)
        used.append(threads)
        kept = check.record(threads, 100.0, 100.0 * seconds_per_unit[threads], now)
        if kept is not None:
            return used, kept
    return used, None


def test_more_threads_chosen_at_start_are_checked_at_once_against_fewer() -> None:
    check = LiveCheck.after_start(measured(TWO, t1=0.13, t2=0.11), PERIOD, now=5.0)
    assert check is not None
    assert (check.current, check.other, check.next_check_at) == (TWO, ONE, 0.0)


def test_under_traffic_the_faster_configuration_is_kept() -> None:
    check = LiveCheck.after_start(measured(TWO, t1=0.13, t2=0.11), PERIOD, now=0.0)
    assert check is not None
    # Under load two threads stall each other: 1 thread is 1.5x faster per unit of work.
    used, kept = run_batches(check, {ONE: 1.0, TWO: 1.5})
    assert kept == ONE
    assert check.current == ONE
    per_config = WINDOW_BATCHES + SKIP_AFTER_SWITCH
    assert used == [TWO] * WINDOW_BATCHES + [ONE] * per_config
    assert check.threads_for_next_batch(1.0) == ONE  # no check until the period is over
    assert check.next_check_at == PERIOD


def test_a_near_tie_goes_to_fewer_cores_and_a_clear_win_to_more() -> None:
    check = LiveCheck.after_start(measured(TWO, t1=0.13, t2=0.11), PERIOD, now=0.0)
    assert check is not None
    assert run_batches(check, {ONE: 1.03, TWO: 1.0})[1] == ONE
    check = LiveCheck.after_start(measured(TWO, t1=0.13, t2=0.11), PERIOD, now=0.0)
    assert check is not None
    assert run_batches(check, {ONE: 1.3, TWO: 1.0})[1] == TWO


def test_the_check_repeats_after_the_period_and_follows_the_load() -> None:
    check = LiveCheck.after_start(measured(TWO, t1=0.13, t2=0.11), PERIOD, now=0.0)
    assert check is not None
    assert run_batches(check, {ONE: 1.0, TWO: 2.0})[1] == ONE
    assert check.threads_for_next_batch(PERIOD - 1) == ONE
    # The neighbours left: two threads are faster again, and the next check sees it.
    used, kept = run_batches(check, {ONE: 1.0, TWO: 0.7}, now=PERIOD)
    assert kept == TWO and check.checks == 2
    assert used[0] == ONE  # the current configuration is timed first


def test_fewest_cores_at_start_waits_a_period_before_checking() -> None:
    check = LiveCheck.after_start(measured(ONE, t1=0.10, t2=0.15), PERIOD, now=10.0)
    assert check is not None
    assert (check.current, check.other, check.next_check_at) == (ONE, TWO, 10.0 + PERIOD)
    assert all(check.threads_for_next_batch(10.0 + i) == ONE for i in range(20))
    assert not check.checking


def test_batches_timed_under_another_configuration_do_not_count() -> None:
    check = LiveCheck.after_start(measured(TWO, t1=0.13, t2=0.11), PERIOD, now=0.0)
    assert check is not None
    assert check.threads_for_next_batch(0.0) == TWO
    # A stray record for the other configuration (not the one being timed) is ignored.
    for _ in range(10):
        assert check.record(ONE, 100.0, 1.0, 0.0) is None
    assert check.checking and check.checks == 0


def test_nothing_to_check_without_a_measurement_or_when_off() -> None:
    assert LiveCheck.after_start(Tuning(TWO, "explicit"), PERIOD, 0.0) is None
    assert LiveCheck.after_start(Tuning(TWO, "rule"), PERIOD, 0.0) is None
    assert LiveCheck.after_start(measured(TWO, t2=0.11), PERIOD, 0.0) is None
    assert LiveCheck.after_start(measured(TWO, t1=0.13, t2=0.11), 0.0, 0.0) is None


def test_work_counts_rows_beams_and_positions() -> None:
    assert batch_work(8, 4, 20, 10) == 8 * 4 * 30
    assert batch_work(1, 0, 5, 5) == 10  # greedy counts as one beam


def test_a_negative_recheck_period_is_refused() -> None:
    with pytest.raises(ConfigError, match="MTQ_THREAD_RECHECK_S"):
        torch_plan(Settings(thread_recheck_s=-1), "cpu", cpus=2)


def test_the_start_up_table_still_marks_the_start_up_choice() -> None:
    tuning = Tuning(ONE, "checked under traffic", (Trial(ONE, 0.13), Trial(TWO, 0.11)),
                    probe_segments=64, at_start=TWO)
    lines = tuning.table().splitlines()
    assert lines[2].startswith("2 thread(s)") and lines[2].endswith("<- chosen")
    assert lines[-1] == "then checked under traffic: 1 thread(s)"
