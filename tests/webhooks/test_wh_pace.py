"""Per-host pacing: the AIMD window (pure) and the gates that hold events for it."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from tests.webhooks.whtest import eventually
from webhooks.hostmetrics import HostMetrics
from webhooks.pacing.hostgates import HostBusy, HostGates, Slot
from webhooks.pacing.pace import AdaptiveLimit, Feedback, Signal

OK = Feedback(Signal.OK, 0.2)
FAILED = Feedback(Signal.FAILED, 1.0, answered=False)  # a timeout


def test_window_starts_small_and_grows_to_the_ceiling_on_quick_answers() -> None:
    limit = AdaptiveLimit(8)
    assert limit.window == 1
    seen = []
    for n in range(40):
        limit.record(OK, started=n, now=n + 0.2)
        seen.append(limit.window)
    assert seen[:3] == [2, 3, 4]  # slow start: one more per answer, doubling per round trip
    assert max(seen) == 8 and seen[-1] == 8  # never past the ceiling


def test_a_failure_halves_the_window_once_per_window() -> None:
    limit = AdaptiveLimit(8)
    for n in range(20):
        limit.record(OK, started=n, now=n + 0.2)
    assert limit.window == 8
    # Four requests started together, all time out: one stall, one halving.
    for _ in range(4):
        limit.record(FAILED, started=100.0, now=101.0)
    assert limit.window == 4 and limit.failing
    # A request started after that decrease brings news: halve again.
    limit.record(FAILED, started=101.5, now=102.5)
    assert limit.window == 2
    # After a failure growth is additive, not slow start any more.
    limit.record(OK, started=103.0, now=103.2)
    assert limit.window == 2 and not limit.failing


def test_rising_latency_stops_growth_and_trims() -> None:
    limit = AdaptiveLimit(16)
    for n in range(10):
        limit.record(OK, started=n, now=n + 0.1)
    grown = limit.limit
    limit.record(Feedback(Signal.OK, 1.0), started=20.0, now=21.0)  # ten times the usual
    assert limit.limit < grown


def test_retry_after_pauses_the_host() -> None:
    limit = AdaptiveLimit(4)
    limit.record(Feedback(Signal.FAILED, 0.1, retry_after_s=5.0), started=0.0, now=1.0)
    assert limit.paused(3.0) and not limit.paused(6.5)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        return self.now


async def _occupy(gates: HostGates, host: str, release: asyncio.Event,
                  slots: list[Slot]) -> None:
    async with gates.hold(host) as slot:
        slots.append(slot)
        await release.wait()


async def _held_once(gates: HostGates, host: str
                     ) -> tuple[asyncio.Event, list[Slot], asyncio.Task[None]]:
    """One event holding a slot of ``host`` until the returned event is set."""
    release = asyncio.Event()
    slots: list[Slot] = []
    first = asyncio.create_task(_occupy(gates, host, release, slots))
    await eventually(lambda: len(slots) == 1, 5)
    return release, slots, first


async def test_a_healthy_host_keeps_its_events_waiting_however_long() -> None:
    clock = Clock()
    gates = HostGates(4, max_wait_s=1.0, failing_backlog=2, clock=clock)
    release, slots, first = await _held_once(gates, "a")
    waiters = [asyncio.create_task(_occupy(gates, "a", release, slots)) for _ in range(5)]
    other = asyncio.create_task(_occupy(gates, "b", release, slots))
    await eventually(lambda: gates.held("a") == 6 and len(slots) == 2, 5)
    assert {slot.host for slot in slots} == {"a", "b"}  # "b" did not wait behind "a"
    clock.now += 3600  # an hour of waiting, for a host that answers 2xx
    calls = clock.calls
    await eventually(lambda: clock.calls > calls + 2, 5, "the waiters to look at the clock")
    gates.record(slots[0], OK)  # the window grows to 2: one waiter goes in
    await eventually(lambda: len(slots) == 3, 5)
    release.set()
    await asyncio.gather(first, other, *waiters)  # none was refused
    assert len(slots) == 7 and gates.held("a") == 0


async def test_a_failing_host_defers_beyond_its_bounds_and_spares_others() -> None:
    clock = Clock()
    gates = HostGates(4, max_wait_s=1.0, failing_backlog=2, clock=clock)
    release, slots, first = await _held_once(gates, "a")
    gates.record(slots[0], FAILED)  # the host is failing; its window is 1
    waiters = [asyncio.create_task(_occupy(gates, "a", release, slots)) for _ in range(4)]
    # Past the failing backlog (2) of waiting events, the rest are refused at once.
    await eventually(lambda: sum(w.done() for w in waiters) == 2, 5)
    refused = [w for w in waiters if w.done()]
    assert all(isinstance(w.exception(), HostBusy) for w in refused)
    async with gates.hold("b"):  # another host is not held up
        pass
    clock.now += 1.5  # the host has answered nothing for longer than max_wait_s
    await eventually(lambda: all(w.done() for w in waiters), 5)
    assert all(isinstance(w.exception(), HostBusy) for w in waiters)
    release.set()
    await first
    assert gates.held("a") == 0


async def test_retry_after_holds_waiters_until_the_pause_ends() -> None:
    gates = HostGates(4, max_wait_s=30.0, failing_backlog=2)
    release, slots, first = await _held_once(gates, "a")
    waiter = asyncio.create_task(_occupy(gates, "a", release, slots))
    await eventually(lambda: gates.held("a") == 2, 5)
    gates.record(slots[0], Feedback(Signal.FAILED, 0.01, retry_after_s=0.3))
    release.set()
    await first
    assert len(slots) == 1  # the slot is free but the host asked for a pause
    await eventually(lambda: len(slots) == 2, 5, "the pause to end")
    await waiter


def test_gates_validate_their_bounds() -> None:
    with pytest.raises(ValueError):
        HostGates(0, max_wait_s=1.0, failing_backlog=1)


async def test_a_host_that_fails_fast_keeps_its_events_waiting_for_their_attempt() -> None:
    clock = Clock()
    gates = HostGates(4, max_wait_s=1.0, failing_backlog=2, clock=clock)
    release, slots, first = await _held_once(gates, "a")
    waiter = asyncio.create_task(_occupy(gates, "a", release, slots))
    await eventually(lambda: gates.held("a") == 2, 5)
    clock.now += 1.5
    gates.record(slots[0], Feedback(Signal.FAILED, 0.05))  # a quick 503: the host answers
    calls = clock.calls
    await eventually(lambda: clock.calls > calls + 2, 5, "the waiter to look at the clock")
    assert not waiter.done()  # still waiting for its own attempt, not deferred
    release.set()
    await asyncio.gather(first, waiter)
    assert len(slots) == 2


def _gauge(registry: CollectorRegistry, name: str, host: str) -> float | None:
    return registry.get_sample_value(name, {"host": host})


async def test_host_gauges_follow_slots_and_waiters() -> None:
    registry = CollectorRegistry()
    gates = HostGates(4, max_wait_s=60.0, failing_backlog=2,
                      metrics=HostMetrics(registry), clock=Clock())

    def counts() -> tuple[float | None, float | None]:
        return (_gauge(registry, "mtq_webhook_host_in_flight", "a"),
                _gauge(registry, "mtq_webhook_host_waiting", "a"))

    release, slots, first = await _held_once(gates, "a")  # the window starts at 1
    assert counts() == (1.0, 0.0)
    waiter = asyncio.create_task(_occupy(gates, "a", release, slots))
    await eventually(lambda: counts() == (1.0, 1.0), 5, "the second event to wait")
    gone = asyncio.create_task(_occupy(gates, "a", release, slots))
    await eventually(lambda: counts() == (1.0, 2.0), 5)
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    assert counts() == (1.0, 1.0)  # a cancelled waiter stops counting
    release.set()
    await asyncio.gather(first, waiter)
    assert counts() == (0.0, 0.0) and len(slots) == 2


def test_a_released_host_label_starts_fresh_series() -> None:
    registry = CollectorRegistry()
    metrics = HostMetrics(registry, max_named=1)
    assert metrics.label_for("a.example") == "a.example"
    assert metrics.label_for("b.example") == "other"
    metrics.counts("a.example", in_flight=3)
    metrics.release("a.example")
    assert _gauge(registry, "mtq_webhook_host_in_flight", "a.example") is None
    assert metrics.label_for("a.example") == "a.example"  # named again, from zero
    metrics.counts("a.example", in_flight=1)
    metrics.observe("a.example", 0.05)
    assert _gauge(registry, "mtq_webhook_host_in_flight", "a.example") == 1.0
    assert registry.get_sample_value("mtq_webhook_host_latency_seconds_count",
                                      {"host": "a.example"}) == 1.0
