"""The pure retry policy: verdicts, Retry-After and the ladder."""

from __future__ import annotations

import email.utils

import pytest

from webhooks.policy import (
    Ack,
    Park,
    Retry,
    Verdict,
    classify,
    decide,
    parse_retry_after,
    retry_delay,
)

SCHEDULE = (10, 60, 300, 1800, 7200, 21600, 43200, 86400)


@pytest.mark.parametrize(
    ("status", "timed_out", "retry_after", "verdict"),
    [
        (200, False, None, Verdict.DELIVERED),
        (204, False, None, Verdict.DELIVERED),
        (299, False, None, Verdict.DELIVERED),
        (301, False, None, Verdict.LADDER),
        (302, False, None, Verdict.LADDER),
        (307, False, None, Verdict.LADDER),
        (400, False, None, Verdict.LADDER),
        (404, False, None, Verdict.LADDER),
        (408, False, None, Verdict.QUICK_RETRY),
        (410, False, None, Verdict.GONE),
        (429, False, None, Verdict.LADDER),
        (429, False, 5.0, Verdict.LADDER),
        (500, False, None, Verdict.QUICK_RETRY),
        (503, False, None, Verdict.QUICK_RETRY),
        (503, False, 30.0, Verdict.LADDER),
        (None, False, None, Verdict.QUICK_RETRY),
        (None, True, None, Verdict.LADDER),
    ],
)
def test_classify(status: int | None, timed_out: bool, retry_after: float | None,
                  verdict: Verdict) -> None:
    assert classify(status, timed_out=timed_out, retry_after=retry_after) is verdict


def test_ladder_follows_schedule_then_gives_up() -> None:
    assert [retry_delay(n, SCHEDULE) for n in range(1, 10)] == [*SCHEDULE, None]
    with pytest.raises(ValueError):
        retry_delay(0, SCHEDULE)


@pytest.mark.parametrize(
    ("attempt", "retry_after", "expected"),
    [
        (1, 5.0, 10),  # shorter than the next step: the step stands
        (1, 10.0, 10),
        (1, 11.0, 60),  # longer: the first step that is at least as long
        (1, 3600.0, 7200),
        (3, 120.0, 300),  # from attempt 3 the step is already 300
        (1, 10**9, 86400),  # beyond the ladder: the longest step
        (9, 5.0, None),  # exhausted whatever the header says
    ],
)
def test_retry_after_picks_first_step_at_least_as_long(
    attempt: int, retry_after: float, expected: int | None
) -> None:
    assert retry_delay(attempt, SCHEDULE, retry_after) == expected


def test_parse_retry_after() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after(None, now=now, cap_s=100) is None
    assert parse_retry_after("30", now=now, cap_s=100) == 30
    assert parse_retry_after(" 7 ", now=now, cap_s=100) == 7
    assert parse_retry_after("100000", now=now, cap_s=100) == 100  # capped
    date = email.utils.formatdate(now + 45, usegmt=True)
    assert parse_retry_after(date, now=now, cap_s=100) == pytest.approx(45)
    past = email.utils.formatdate(now - 45, usegmt=True)
    assert parse_retry_after(past, now=now, cap_s=100) == 0
    assert parse_retry_after("soon", now=now, cap_s=100) is None
    assert parse_retry_after("-5", now=now, cap_s=100) is None
    assert parse_retry_after("1.5", now=now, cap_s=100) is None


def test_decide() -> None:
    schedule = (1, 2)
    assert decide(Verdict.DELIVERED, 1, schedule) == Ack()
    assert decide(Verdict.GONE, 1, schedule) == Park("gone", 1)
    assert decide(Verdict.LADDER, 1, schedule) == Retry(1, 1)
    assert decide(Verdict.QUICK_RETRY, 2, schedule) == Retry(2, 2)
    assert decide(Verdict.LADDER, 3, schedule) == Park("retries_exhausted", 3)
    assert decide(Verdict.LADDER, 1, schedule, retry_after_s=1.5) == Retry(2, 1)
