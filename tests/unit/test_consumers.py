"""Changing a consumer's window without returning a delivery (worker/broker/consumers.py).

A fake aiormq channel records the frames in the order they would go out; the test decides
when the broker answers a cancel. The rule under test: the old consumer is cancelled only
while it holds as many deliveries as its prefetch, and none of its settles goes out before
the broker has the cancel.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from worker.batching.fairness import Lane
from worker.broker import consumers as module
from worker.broker.consumers import Consumers, LaneQueue, Subscription

KEY: LaneQueue = ("en-de", Lane.BULK)


class FakeChannel:
    def __init__(self) -> None:
        self.frames: list[tuple[Any, ...]] = []
        self.cancel_ok = asyncio.Event()
        self.cancel_ok.set()

    async def basic_qos(self, *, prefetch_count: int) -> None:
        self.frames.append(("qos", prefetch_count))

    async def basic_consume(self, queue: str, callback: Any) -> Any:
        tag = f"ctag-{sum(1 for frame in self.frames if frame[0] == 'consume') + 1}"
        self.frames.append(("consume", queue, tag))
        return SimpleNamespace(consumer_tag=tag)

    async def basic_cancel(self, tag: str) -> None:
        self.frames.append(("cancel", tag))
        await self.cancel_ok.wait()


def consumers(channel: FakeChannel, retired: list[LaneQueue]) -> Consumers:
    return Consumers(channel, {KEY: "mtq.jobs.en-de"},  # type: ignore[arg-type]
                     lambda key, sub: None, retired.append)  # type: ignore[arg-type,return-value]


async def settle(sub: Subscription, channel: FakeChannel, *, hold: bool) -> None:
    await sub.settling(hold=hold)
    channel.frames.append(("ack" if hold else "nack", sub.tag))


async def turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_the_old_consumer_is_cancelled_once_full_and_its_settles_follow_the_cancel(
) -> None:
    channel, retired = FakeChannel(), []
    group = consumers(channel, retired)
    await group.subscribe([KEY], 3)
    old = group.active[KEY]
    old.received()
    old.received()  # 2 of 3: the broker may be sending it a third right now

    assert await group.replace([KEY], 10) == [KEY]
    assert channel.frames == [("qos", 3), ("consume", "mtq.jobs.en-de", "ctag-1"),
                              ("qos", 10), ("consume", "mtq.jobs.en-de", "ctag-2")]
    assert group.active[KEY].prefetch == 10 and group.retiring[KEY] is old

    channel.cancel_ok.clear()  # the broker has not answered the cancel yet
    old.received()  # full: no credit left, nothing can be on its way
    await turns()
    assert channel.frames[-1] == ("cancel", "ctag-1")
    requeue = asyncio.ensure_future(settle(old, channel, hold=False))
    await turns()
    assert not requeue.done()  # nothing of the old consumer goes out before the cancel-ok
    channel.cancel_ok.set()
    await requeue
    assert channel.frames[-2:] == [("cancel", "ctag-1"), ("nack", "ctag-1")]
    assert retired == [KEY] and KEY not in group.retiring and old.gone
    await settle(old, channel, hold=True)  # the rest of its deliveries settle as usual
    assert old.held == 1


async def test_a_retiring_consumer_holds_its_acks_back_only_while_deliveries_come(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(module, "RETIRE_IDLE_S", 0.2)
    channel, retired = FakeChannel(), []
    group = consumers(channel, retired)
    await group.subscribe([KEY], 4)
    old = group.active[KEY]
    old.received()
    await group.replace([KEY], 2)

    ack = asyncio.ensure_future(settle(old, channel, hold=True))
    new = group.active[KEY]
    await turns()
    assert not ack.done()  # held: it lets the old consumer fill up
    new.received()
    await settle(new, channel, hold=True)  # the new consumer's acks are never held
    await asyncio.wait_for(ack, 5)  # nothing more came to it: the held ack goes
    assert ("cancel", "ctag-1") not in channel.frames  # not full: it stays, retiring
    assert group.retiring[KEY] is old and retired == []


async def test_a_newer_window_waits_for_the_retiring_consumer() -> None:
    channel, retired = FakeChannel(), []
    group = consumers(channel, retired)
    await group.subscribe([KEY], 2)
    await group.replace([KEY], 33)
    assert await group.replace([KEY], 5) == []  # the consumer with 2 still retires
    assert [sub.prefetch for sub in group.active.values()] == [33]
    old = group.retiring[KEY]
    old.received()
    old.received()
    await turns()
    assert retired == [KEY] and not group.retiring
    assert await group.replace([KEY], 5) == [KEY]


async def test_pausing_cancels_every_consumer_at_once() -> None:
    channel, retired = FakeChannel(), []
    group = consumers(channel, retired)
    await group.subscribe([KEY], 2)
    await group.replace([KEY], 33)
    await group.cancel_all()
    assert [frame for frame in channel.frames if frame[0] == "cancel"] == [
        ("cancel", "ctag-2"), ("cancel", "ctag-1")]
    assert not group.active and not group.retiring
