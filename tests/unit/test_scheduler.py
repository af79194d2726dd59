"""Batch formation: budget, length sorting, fairness, exactly-once, per-job order."""

from __future__ import annotations

import random
import threading

import pytest

from mtq.core.contract import DecodeOptions
from worker.batching.items import Batch, WorkItem, batch_cost
from worker.batching.queue import BatchQueue
from worker.batching.scheduler import Scheduler

BEAM4 = DecodeOptions(beam_size=4, max_new_tokens=32)
GREEDY = DecodeOptions(beam_size=1, max_new_tokens=32)


def segs(lengths: list[int]) -> list[WorkItem]:
    return [WorkItem(i, [7] * n) for i, n in enumerate(lengths)]


def drain(scheduler: Scheduler, now: float = 100.0) -> list[Batch]:
    batches = []
    while (batch := scheduler.next_batch(now, force=True)) is not None:
        batches.append(batch)
    return batches


def test_batches_respect_the_token_budget_and_segment_cap() -> None:
    scheduler = Scheduler(token_budget=400, max_batch_segments=8, max_wait_s=0)
    rng = random.Random(1)
    scheduler.add("a", BEAM4, segs([rng.randint(1, 40) for _ in range(200)]), now=0)
    for batch in drain(scheduler):
        assert len(batch.segments) <= 8
        assert batch.cost <= 400 or len(batch.segments) == 1


def test_a_segment_over_budget_still_gets_its_own_batch() -> None:
    scheduler = Scheduler(token_budget=50, max_batch_segments=8, max_wait_s=0)
    scheduler.add("a", BEAM4, segs([100, 2]), now=0)
    sizes = sorted(len(b.segments) for b in drain(scheduler))
    assert sizes == [1, 1]


def test_every_segment_is_batched_exactly_once_across_jobs() -> None:
    scheduler = Scheduler(token_budget=2048, max_batch_segments=32, max_wait_s=0)
    rng = random.Random(2)
    expected = set()
    for job in range(40):
        count = rng.choice([1, 2, 3, 500]) if job % 10 == 0 else rng.randint(1, 3)
        lengths = [rng.randint(2, 60) for _ in range(count)]
        scheduler.add(f"job{job}", BEAM4, segs(lengths), now=job)
        expected |= {(f"job{job}", i) for i in range(count)}
    seen = [(s.job_key, s.index) for b in drain(scheduler) for s in b.segments]
    assert len(seen) == len(set(seen))
    assert set(seen) == expected
    assert scheduler.waiting == 0


def test_small_and_large_jobs_share_batches() -> None:
    scheduler = Scheduler(token_budget=4096, max_batch_segments=64, max_wait_s=0)
    scheduler.add("big", BEAM4, segs([10] * 500), now=0)
    scheduler.add("small", BEAM4, segs([10]), now=1)
    batches = drain(scheduler)
    mixed = [b for b in batches if {s.job_key for s in b.segments} == {"big", "small"}]
    assert mixed, "the one-segment job should ride along in a batch of the big job"


def test_length_sorting_keeps_padding_low() -> None:
    scheduler = Scheduler(token_budget=1600, max_batch_segments=16, max_wait_s=0)
    rng = random.Random(3)
    lengths = [rng.choice([5, 6, 7, 40, 41, 42]) for _ in range(256)]
    scheduler.add("a", BEAM4, segs(lengths), now=0)
    batches = drain(scheduler)
    padded = sum(b.padded_tokens for b in batches)
    real = sum(b.real_tokens for b in batches)
    assert 1 - real / padded < 0.10


def test_oldest_segment_anchors_the_next_batch() -> None:
    scheduler = Scheduler(token_budget=10_000, max_batch_segments=2, max_wait_s=0)
    scheduler.add("old", BEAM4, segs([50]), now=0)
    scheduler.add("new", BEAM4, segs([5, 5, 5, 5]), now=1)
    first = scheduler.next_batch(now=2)
    assert first is not None
    assert "old" in {s.job_key for s in first.segments}


def test_different_decode_options_never_share_a_batch() -> None:
    scheduler = Scheduler(token_budget=10_000, max_batch_segments=64, max_wait_s=0)
    scheduler.add("beam", BEAM4, segs([5, 5]), now=0)
    scheduler.add("greedy", GREEDY, segs([5, 5]), now=0)
    for batch in drain(scheduler):
        assert len({s.job_key for s in batch.segments}) == 1


def test_waits_for_more_work_until_max_wait_unless_full() -> None:
    scheduler = Scheduler(token_budget=10_000, max_batch_segments=4, max_wait_s=0.5)
    scheduler.add("a", BEAM4, segs([5]), now=10.0)
    assert scheduler.next_batch(now=10.1) is None
    assert scheduler.seconds_until_ready(now=10.1) == pytest.approx(0.4)
    assert scheduler.next_batch(now=10.6) is not None
    scheduler.add("b", BEAM4, segs([5, 5, 5, 5]), now=20.0)
    assert scheduler.seconds_until_ready(now=20.0) == 0.0
    full = scheduler.next_batch(now=20.0)
    assert full is not None and len(full.segments) == 4


def test_cancel_and_withdraw_remove_only_that_job() -> None:
    scheduler = Scheduler(token_budget=10_000, max_batch_segments=64, max_wait_s=0)
    scheduler.add("keep", BEAM4, segs([5, 6]), now=0)
    scheduler.add("drop", BEAM4, segs([5, 6, 7]), now=0)
    assert scheduler.withdraw_unstarted("drop", expected=4) is False
    assert scheduler.withdraw_unstarted("drop", expected=3) is True
    assert scheduler.waiting_jobs() == {"keep"}
    assert scheduler.cancel("keep") == 2
    assert scheduler.seconds_until_ready(now=0) is None


def test_split_halves_keep_every_segment() -> None:
    scheduler = Scheduler(token_budget=10_000, max_batch_segments=64, max_wait_s=0)
    scheduler.add("a", BEAM4, segs([3, 4, 5, 6, 7]), now=0)
    batch = drain(scheduler)[0]
    left, right = batch.split()
    assert left.segments + right.segments == batch.segments


def test_shrink_budget_has_a_floor() -> None:
    scheduler = Scheduler(token_budget=1000, max_batch_segments=8, max_wait_s=0,
                          min_token_budget=300)
    assert scheduler.shrink_budget() == 750
    for _ in range(10):
        scheduler.shrink_budget()
    assert scheduler.token_budget == 300


def test_batch_cost_counts_beams() -> None:
    assert batch_cost(3, 10, 4) == 120


def test_batch_queue_hands_batches_to_another_thread() -> None:
    queue = BatchQueue(Scheduler(token_budget=10_000, max_batch_segments=64, max_wait_s=0.01))
    got: list[Batch] = []

    def consume() -> None:
        while (batch := queue.get()) is not None:
            got.append(batch)

    thread = threading.Thread(target=consume)
    thread.start()
    queue.add("a", BEAM4, segs([4, 5, 6]))
    queue.add("b", BEAM4, segs([4]))
    deadline = threading.Event()
    for _ in range(200):
        if sum(len(b.segments) for b in got) == 4:
            break
        deadline.wait(0.01)
    queue.close()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert sum(len(b.segments) for b in got) == 4


def test_padding_cap_keeps_batches_dense_past_the_free_size() -> None:
    lengths = [10] * 12 + [40] * 12
    capped = Scheduler(token_budget=100_000, max_batch_segments=64, max_wait_s=0,
                       max_padding=0.10, padding_free_segments=8)
    capped.add("a", BEAM4, segs(lengths), now=0)
    batches = drain(capped)
    assert all(b.padding_ratio <= 0.10 for b in batches)
    assert sum(len(b.segments) for b in batches) == len(lengths)
    uncapped = Scheduler(token_budget=100_000, max_batch_segments=64, max_wait_s=0)
    uncapped.add("a", BEAM4, segs(lengths), now=0)
    assert len(drain(uncapped)) == 1  # without the cap everything shares one padded batch


def test_padding_cap_never_applies_to_small_batches() -> None:
    scheduler = Scheduler(token_budget=100_000, max_batch_segments=64, max_wait_s=0,
                          max_padding=0.0, padding_free_segments=4)
    scheduler.add("a", BEAM4, segs([1, 5, 9, 13]), now=0)
    assert [len(b.segments) for b in drain(scheduler)] == [4]
