"""Odd ``Retry-After`` values: each maps to a bounded delay and the attempt is counted.

``str.isdigit`` accepts "²", "①" and other non-ASCII digits that ``float`` refuses; such a
value once crashed the attempt, so the event was requeued at once (no ladder, no pacing) until
the broker's delivery limit parked it.
"""

from __future__ import annotations

import asyncio
import email.utils

import pytest

from mtq.core.topology import PARKED_QUEUE
from tests.webhooks.whtest import (
    Broker,
    Reply,
    Seen,
    broker,
    dispatching,
    endpoint,
    eventually,
    metric,
    settings_for,
)
from webhooks.metrics import DispatcherMetrics
from webhooks.parking import list_parked
from webhooks.policy import Retry, Verdict, decide, parse_retry_after

SCHEDULE = (10, 60, 300, 1800, 7200, 21600, 43200, 86400)
NOW = 1_700_000_000.0
CAP = float(max(SCHEDULE))


def _date(offset_s: float) -> str:
    return email.utils.formatdate(NOW + offset_s, usegmt=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("²", None),  # isdigit() but not a number float() reads
        ("①", None),
        ("١٢", None),  # Arabic-Indic digits
        ("２", None),  # fullwidth
        ("-5", None),
        ("+5", None),
        ("1.5", None),
        ("1e3", None),
        ("0x10", None),
        ("nan", None),
        ("inf", None),
        ("", None),
        ("   ", None),
        ("5 5", None),
        ("soon", None),
        ("\x00", None),
        ("0", 0.0),
        ("0030", 30.0),
        ("99999999999999999999", CAP),  # huge: the longest step
        ("9" * 5000, CAP),
        (_date(45), 45.0),
        (_date(-45), 0.0),  # a date in the past: no wait
        ("Sun, 06 Nov 1994 08:49:37 GMT", 0.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", CAP),  # far future: the longest step
        ("Mon, 01 Jan 99999 00:00:00 GMT", None),
        ("Tue, 31 Feb 2026 00:00:00 GMT", None),  # no such day
        ("Sun, 06 Nov 1994 08:49:37", None),  # no zone: not an HTTP date
        ("Sun, 06 Nov 1994 08:49:37 ①", None),
    ],
)
def test_odd_retry_after_values_map_to_a_bounded_delay(value: str,
                                                       expected: float | None) -> None:
    parsed = parse_retry_after(value, now=NOW, cap_s=CAP)
    if expected is None:
        assert parsed is None
    else:
        assert parsed == pytest.approx(expected)
    for attempt in (1, 4, 8):
        decision = decide(Verdict.LADDER, attempt, SCHEDULE, parsed)
        # Counted as the attempt it is, on a ladder step no longer than the longest.
        assert isinstance(decision, Retry) and decision.attempt == attempt
        assert decision.delay_s in SCHEDULE and decision.delay_s >= SCHEDULE[attempt - 1]


def _wire(text: str) -> str:
    """``text`` as UTF-8 bytes on the wire (the test server writes header values in Latin-1)."""
    return text.encode().decode("latin-1")


async def _parked(b: Broker) -> bool:
    return await b.count(PARKED_QUEUE) == 1


async def test_a_malformed_retry_after_goes_down_the_ladder(amqp_url: str) -> None:
    odd = [_wire("²"), _wire("①"), _wire("١٢")]

    def throttled(_seen: Seen, n: int) -> Reply:
        return Reply(status=429, headers={"Retry-After": odd[(n - 1) % len(odd)]})

    with endpoint(behaviour=throttled) as server:
        m = DispatcherMetrics()
        async with broker(amqp_url) as b, dispatching(settings_for(amqp_url, server.port),
                                                      metrics=m):
            await b.publish("odd-1", server.url)
            await eventually(lambda: _parked(b), 30, "the event parked")
            [parked] = await asyncio.to_thread(list_parked, amqp_url)
        # Three attempts (the ladder is 1 s, 2 s), each one request: not requeued at once.
        assert parked.reason == "retries_exhausted" and parked.attempt == 3
        assert parked.last_status == 429
        assert len(server.seen()) == 3
        assert metric(m, "mtq_webhook_retries_scheduled_total", delay_s="1") == 1
        assert metric(m, "mtq_webhook_retries_scheduled_total", delay_s="2") == 1
        # Every answer reached the metrics and the host's pacing.
        assert metric(m, "mtq_webhook_attempts_total", outcome="failed",
                      status_class="4xx") == 3
