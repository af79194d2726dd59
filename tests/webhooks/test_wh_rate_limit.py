"""A rate-limited host (429 + Retry-After) gets its events soon after its pause, none lost.

The gates must wake a paused host's waiters when the pause ends, however they came to wait,
and a pause the host asked for is not silence: nothing was sent, so nothing is deferred for it.
"""

from __future__ import annotations

import asyncio

from tests.webhooks.whtest import (
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
from webhooks.pacing.hostgates import HostBusy, HostGates
from webhooks.pacing.pace import Feedback, Signal


async def test_a_rate_limited_host_gets_every_event_after_its_pause(amqp_url: str) -> None:
    def throttle_twice(_seen: Seen, n: int) -> Reply:
        return Reply(status=429, headers={"Retry-After": "2"}) if n <= 2 else Reply()

    with endpoint(behaviour=throttle_twice) as server:
        # A delivery timeout (the gates' patience) well above the pause the host asks for.
        settings = settings_for(amqp_url, server.port, webhook_timeout_s=5.0)
        m = DispatcherMetrics()
        async with broker(amqp_url) as b, dispatching(settings, metrics=m):
            await b.publish("limited-0", server.url)
            await eventually(
                lambda: metric(m, "mtq_webhook_retries_scheduled_total", delay_s="2") == 1,
                10, "the first 429 on the ladder")
            # The host is paused now and holds no slot: these arrive and wait for the pause.
            for n in range(1, 4):
                await b.publish(f"limited-{n}", server.url)
            # Generous: the pauses (2 s each) and the ladder steps (2 s) take about 5 s.
            await eventually(lambda: len(server.delivered()) == 4, 30, "every event delivered")
        assert sorted(s.job_id for s in server.delivered()) == [f"limited-{n}" for n in range(4)]
        # Two 429s, then one 200 per event: nothing was sent during a pause, nothing twice.
        assert len(server.seen()) == 6
        assert metric(m, "mtq_webhook_retries_scheduled_total", delay_s="2") == 2
        assert metric(m, "mtq_webhook_deferred_total") == 0


async def test_an_event_arriving_during_a_pause_is_woken_when_it_ends() -> None:
    gates = HostGates(4, max_wait_s=30.0, failing_backlog=2)
    async with gates.hold("a") as slot:
        gates.record(slot, Feedback(Signal.FAILED, 0.01, retry_after_s=0.3))
    # The slot is free again, the host paused, and nobody was waiting when it paused.
    entered = asyncio.Event()

    async def deliver() -> None:
        async with gates.hold("a"):
            entered.set()

    waiter = asyncio.create_task(deliver())
    await eventually(entered.is_set, 10, "the pause to end")
    await waiter
    assert gates.held("a") == 0


async def test_waiters_behind_one_that_gives_up_still_get_their_slots() -> None:
    gates = HostGates(1, max_wait_s=30.0, failing_backlog=4)
    release = asyncio.Event()
    entered: list[int] = []

    async def deliver(n: int) -> None:
        async with gates.hold("a"):
            entered.append(n)
            await release.wait()

    first = asyncio.create_task(deliver(0))
    await eventually(lambda: entered == [0], 5)
    waiters = [asyncio.create_task(deliver(n)) for n in (1, 2, 3)]
    await eventually(lambda: gates.held("a") == 4, 5)
    waiters[0].cancel()  # the head of the line gives up (a drain, say)
    release.set()
    await first
    await asyncio.gather(*waiters[1:])
    assert entered == [0, 2, 3] and gates.held("a") == 0
    assert waiters[0].cancelled()


async def test_a_pause_longer_than_the_patience_defers_with_its_length() -> None:
    gates = HostGates(4, max_wait_s=1.0, failing_backlog=2)
    async with gates.hold("a") as slot:
        gates.record(slot, Feedback(Signal.FAILED, 0.01, retry_after_s=60.0))
    try:
        async with gates.hold("a"):
            raise AssertionError("a paused host gave a slot")
    except HostBusy as busy:
        assert "pause" in str(busy) and busy.wait_s > 50
    else:
        raise AssertionError("not deferred")
