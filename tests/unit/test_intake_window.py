"""The intake window follows job sizes within its bounds, with hysteresis (pure)."""

from __future__ import annotations

import pytest

from mtq.core.intake_rule import WindowRule
from worker.batching.intake_window import IntakeWindow

RULE = WindowRule(target_segments=256, floor=2, ceiling=512, min_interval_s=2.0)


def settle(window: IntakeWindow, segments: int, jobs: int, now: float) -> float:
    for _ in range(jobs):
        window.observe(segments)
    proposal = window.propose(now)
    if proposal is not None:
        window.applied(proposal, now)
    return now + 10


def test_small_jobs_grow_the_window_large_jobs_shrink_it() -> None:
    window = IntakeWindow(RULE, initial=16)
    now = settle(window, 1, 50, now=0)
    assert window.current == 257  # 256 one-segment jobs in flight, plus the next one
    now = settle(window, 512, 50, now)
    assert window.current == 2  # the floor: two large jobs
    settle(window, 4, 50, now)
    assert window.current == 65


def test_ceiling_and_floor_bound_the_window() -> None:
    rule = WindowRule(target_segments=10_000, floor=4, ceiling=100)
    assert rule.window_for(1) == 100
    assert rule.window_for(100_000) == 4
    with pytest.raises(ValueError):
        WindowRule(target_segments=10, floor=5, ceiling=4)


def test_small_changes_are_ignored() -> None:
    window = IntakeWindow(RULE, initial=65)  # the window for 4-segment jobs
    for _ in range(50):
        window.observe(5)  # would be 53: within the hysteresis band
    assert window.propose(100.0) is None


def test_changes_are_rate_limited() -> None:
    window = IntakeWindow(RULE, initial=16)
    window.observe(1)
    proposal = window.propose(0.0)
    assert proposal is not None
    window.applied(proposal, 0.0)
    for _ in range(50):
        window.observe(512)
    assert window.propose(1.0) is None
    assert window.propose(2.5) == 2


def test_no_proposal_before_the_first_job() -> None:
    assert IntakeWindow(RULE).propose(0.0) is None
