"""Lanes and tenants in batch formation: interactive overtakes bulk within a bound, tenants
share by tokens (pure scheduler tests, no clock)."""

from __future__ import annotations

import random
from collections import Counter

from mtq.core.contract import DecodeOptions
from worker.batching.fairness import Lane
from worker.batching.items import Batch, WorkItem
from worker.batching.scheduler import Scheduler

BEAM4 = DecodeOptions(beam_size=4, max_new_tokens=32)


def items(lengths: list[int]) -> list[WorkItem]:
    return [WorkItem(i, [7] * n) for i, n in enumerate(lengths)]


def scheduler(**kwargs: object) -> Scheduler:
    defaults: dict[str, object] = dict(token_budget=4096, max_batch_segments=16, max_wait_s=0)
    defaults.update(kwargs)
    return Scheduler(**defaults)  # type: ignore[arg-type]


def take(s: Scheduler, count: int, now: float = 100.0) -> list[Batch]:
    batches = []
    for _ in range(count):
        batch = s.next_batch(now)
        if batch is None:
            break
        batches.append(batch)
    return batches


def test_interactive_segments_are_taken_before_older_bulk_ones() -> None:
    s = scheduler()
    rng = random.Random(3)
    for job in range(50):  # a bulk backlog of 800 segments, all older
        s.add(f"bulk{job}", BEAM4, items([rng.randint(5, 40) for _ in range(16)]), now=job)
    s.add("chat", BEAM4, items([12]), now=99, lane=Lane.INTERACTIVE)
    first = take(s, 1)[0]
    assert ("chat", 0) in {(seg.job_key, seg.index) for seg in first.segments}


def test_an_interactive_job_fills_its_batch_before_bulk_does() -> None:
    s = scheduler(max_batch_segments=8)
    s.add("bulk", BEAM4, items([10] * 40), now=0)
    s.add("chat", BEAM4, items([10, 11, 12]), now=1, lane=Lane.INTERACTIVE)
    batch = take(s, 1)[0]
    chat = [seg for seg in batch.segments if seg.job_key == "chat"]
    assert len(chat) == 3  # all of the interactive job, the rest filled with bulk
    assert len(batch.segments) == 8


def test_bulk_is_not_starved_beyond_the_bound() -> None:
    s = scheduler(max_batch_segments=4, bulk_every=4)
    s.add("bulk", BEAM4, items([10] * 400), now=0)
    for job in range(200):  # interactive work keeps arriving, more than the device can take
        s.add(f"chat{job}", BEAM4, items([10] * 4), now=1, lane=Lane.INTERACTIVE)
    anchors = []
    for batch in take(s, 40):
        lanes = Counter(seg.lane for seg in batch.segments)
        anchors.append(Lane.BULK if lanes[Lane.BULK] == len(batch.segments) else Lane.INTERACTIVE)
    assert anchors.count(Lane.BULK) == 10  # one batch in every bulk_every
    run = longest = 0
    for lane in anchors:
        run = run + 1 if lane is Lane.INTERACTIVE else 0
        longest = max(longest, run)
    assert longest == 3


def tokens_by_tenant(batches: list[Batch]) -> Counter[str]:
    served: Counter[str] = Counter()
    for batch in batches:
        for seg in batch.segments:
            served[seg.tenant] += seg.length
    return served


def test_two_tenants_with_very_different_backlogs_share_equally() -> None:
    s = scheduler(max_batch_segments=16)
    rng = random.Random(5)
    for job in range(200):  # the large tenant: 3200 segments, all published first
        s.add(f"big{job}", BEAM4, items([rng.randint(5, 40) for _ in range(16)]), now=job,
              tenant="big")
    for job in range(10):  # the small tenant: 160 segments, published after
        s.add(f"small{job}", BEAM4, items([rng.randint(5, 40) for _ in range(16)]), now=300,
              tenant="small")
    small_total = sum(seg.length for pool in s._pools.values() for seg in pool
                      if seg.tenant == "small")
    batches = []
    while any(seg.tenant == "small" for pool in s._pools.values() for seg in pool):
        batches.extend(take(s, 1))
    served = tokens_by_tenant(batches)
    assert served["small"] == small_total
    # While both waited, the large tenant got about as many tokens as the small one.
    assert 0.7 < served["big"] / served["small"] < 1.5


def test_weights_give_proportional_shares() -> None:
    s = scheduler(max_batch_segments=8, tenant_weights={"gold": 3.0})
    for tenant in ("gold", "std"):
        for job in range(100):
            s.add(f"{tenant}{job}", BEAM4, items([10] * 8), now=0, tenant=tenant)
    served = tokens_by_tenant(take(s, 40))
    assert 2.5 < served["gold"] / served["std"] < 3.5


def test_one_tenant_and_one_lane_keep_the_oldest_first_order() -> None:
    s = scheduler(max_batch_segments=2)
    s.add("old", BEAM4, items([30]), now=0)
    s.add("new", BEAM4, items([5, 5]), now=1)
    first = take(s, 1)[0]
    assert "old" in {seg.job_key for seg in first.segments}


def test_cancel_and_withdraw_cover_every_lane_and_tenant() -> None:
    s = scheduler()
    s.add("a", BEAM4, items([5, 6]), now=0, lane=Lane.INTERACTIVE, tenant="t1")
    s.add("a", BEAM4, items([7]), now=0, tenant="t2")
    s.add("b", BEAM4, items([5]), now=0)
    assert s.withdraw_unstarted("a", 3)
    assert s.waiting == 1
    assert s.cancel("b") == 1
    assert s.waiting == 0
    assert s.next_batch(100.0) is None
