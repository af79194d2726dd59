"""The pure parts of cancel and progress: the control message, the events, the throttle, the
cancel registry (memory, and a real private Redis), the scheduler's and dedup's drops."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from mtq.core.contract import DecodeOptions, InvalidJob, Job, JobLimits, parse_job
from mtq.core.control import CancelRequest, InvalidControl, parse_control
from mtq.core.events import (
    CancelledEvent,
    JobStats,
    ModelInfo,
    ProgressEvent,
    encode_result,
    webhook_id,
)
from mtq.core.headers import DELIVER_HEADER, DONE_HEADER
from tests.cache.redis_server import RedisServer
from webhooks.events import parse_result
from worker.batching.items import WorkItem
from worker.batching.scheduler import Scheduler
from worker.cache import CacheScope
from worker.cache.dedup import InFlightSegments
from worker.lifecycle.control.registry import MEMORY_ENTRIES, CancelRegistry
from worker.lifecycle.control.throttle import ProgressThrottle

OPTIONS = DecodeOptions(2, 8)


def a_job(segments: int = 3, **extra: object) -> Job:
    body = {"job_id": "j1", "source_lang": "en", "target_lang": "de",
            "segments": [f"s{i}" for i in range(segments)],
            "callback_url": "https://example.com/hook", **extra}
    return parse_job(json.dumps(body).encode(), JobLimits())


# -- the control message -----------------------------------------------------------------------


def test_a_cancel_reads_back_and_matches_by_tenant() -> None:
    request = parse_control(CancelRequest("order-1", "acme").encode())
    assert request == CancelRequest("order-1", "acme")
    assert request.matches("order-1", "acme") and not request.matches("order-1", "beta")
    anyone = parse_control(b'{"type": "job.cancel", "job_id": "order-1"}')
    assert anyone.matches("order-1", None) and anyone.matches("order-1", "beta")
    assert not anyone.matches("order-2", None)


@pytest.mark.parametrize(("body", "says"), [
    (b"\xff", "not UTF-8 JSON"),
    (b"not json", "not UTF-8 JSON"),
    (b"[1]", "not an object"),
    (b'{"type": "job.pause", "job_id": "a"}', "the only control message"),
    (b'{"type": "job.cancel"}', "job_id must be"),
    (b'{"type": "job.cancel", "job_id": "a b"}', "job_id must be"),
    (b'{"type": "job.cancel", "job_id": "a", "tenant": 5}', "tenant must be"),
    (b'{"type": "job.cancel", "job_id": "a", "why": "x"}', "unknown fields: why"),
    (b"{" + b" " * 5000 + b"}", "at most"),
])
def test_a_malformed_control_message_is_one_clear_line(body: bytes, says: str) -> None:
    with pytest.raises(InvalidControl, match=says) as caught:
        parse_control(body)
    assert "\n" not in str(caught.value)


# -- the events --------------------------------------------------------------------------------


def test_options_progress_is_validated_and_defaults_to_false() -> None:
    assert a_job().progress is False
    assert a_job(options={"progress": True}).progress is True
    with pytest.raises(InvalidJob, match=r"options\.progress: Input should be a valid boolean"):
        a_job(options={"progress": "yes"})


def test_asking_for_progress_changes_no_cache_key() -> None:
    info = ModelInfo("m", "r")
    quiet, loud = a_job(), a_job(options={"progress": True})
    assert CacheScope.for_job(info, quiet).digest() == CacheScope.for_job(info, loud).digest()


def test_progress_events_have_a_webhook_id_per_done_and_say_whether_to_deliver() -> None:
    quiet, loud = a_job(), a_job(options={"progress": True})
    first = encode_result(ProgressEvent(quiet, 1), "https://example.com/hook")
    second = encode_result(ProgressEvent(loud, 2), "https://example.com/hook")
    assert first.webhook_id != second.webhook_id != webhook_id("j1", "job.progress")
    assert first.headers[DELIVER_HEADER] == "false" and DELIVER_HEADER not in second.headers
    assert json.loads(second.body) == {"type": "job.progress", "job_id": "j1", "done": 2,
                                       "total": 3, "metadata": {}}
    # The dispatcher reads it back: the same webhook id, and whether to POST it.
    read = parse_result(first.body, {**first.headers, DONE_HEADER: "1"})
    assert read.webhook_id == first.webhook_id and read.deliver is False
    assert parse_result(second.body, second.headers).deliver is True


def test_a_cancelled_event_has_nulls_for_dropped_segments() -> None:
    job = a_job()
    event = CancelledEvent(job, ("a", None, ""), ModelInfo("m", "r"), JobStats(3, 5, 7))
    body = json.loads(encode_result(event, "https://example.com/hook").body)
    assert body["type"] == "job.cancelled"
    assert body["translations"] == ["a", None, ""] and (body["done"], body["total"]) == (2, 3)
    assert body["model"]["name"] == "m" and body["stats"]["segments"] == 3


# -- the throttle ------------------------------------------------------------------------------


def test_the_throttle_spaces_events_in_time_and_in_segments_and_caps_them() -> None:
    throttle = ProgressThrottle(interval_s=1.0, max_events=4)  # a step of 1/5 of the total
    assert not throttle.due(0.0, 10, 100)  # less than a step
    assert throttle.due(0.0, 20, 100)
    throttle.record(0.0, 20)
    assert not throttle.due(0.5, 60, 100)  # too soon
    assert not throttle.due(2.0, 30, 100)  # not a step further
    assert not throttle.due(2.0, 100, 100)  # done: job.completed says that
    sent = [20]
    for now, done in ((2.0, 40), (3.0, 60), (4.0, 80), (5.0, 99)):
        if throttle.due(now, done, 100):
            throttle.record(now, done)
            sent.append(done)
    assert sent == [20, 40, 60, 80]  # capped at max_events
    assert not throttle.due(9.0, 99, 100)


# -- the cancel registry -----------------------------------------------------------------------


def test_the_memory_registry_forgets_after_the_ttl_and_stays_bounded() -> None:
    now = [0.0]
    registry = CancelRegistry(10.0, clock=lambda: now[0])
    registry.remember(CancelRequest("a"))
    registry.remember(CancelRequest("b", "acme"))
    assert registry.cancelled("a", None) and registry.cancelled("a", "anyone")
    assert registry.cancelled("b", "acme") and not registry.cancelled("b", "beta")
    assert not registry.cancelled("b", None)
    now[0] = 11.0
    assert not registry.cancelled("a", None)
    for n in range(MEMORY_ENTRIES + 5):
        registry.remember(CancelRequest(f"j{n}"))
    assert not registry.cancelled("j0", None) and registry.cancelled(f"j{MEMORY_ENTRIES}", None)


def test_the_shared_registry_tells_other_workers_and_survives_a_redis_outage(
    tmp_path: Path,
) -> None:
    errors: list[int] = []

    async def scenario(url: str) -> None:
        writer = CancelRegistry(60, url)
        reader = CancelRegistry(60, url, on_error=lambda: errors.append(1))
        try:
            await writer.share(CancelRequest("x", "acme"))
            await writer.share(CancelRequest("y"))
            assert await reader.is_cancelled("x", "acme")
            assert not await reader.is_cancelled("x", "beta")
            assert await reader.is_cancelled("y", "beta") and await reader.is_cancelled("y", None)
            assert not await reader.is_cancelled("z", None) and not errors
        finally:
            await writer.aclose()
            await reader.aclose()

    with RedisServer(tmp_path) as server:
        asyncio.run(scenario(server.url()))
        url = server.url()

    async def down() -> None:  # the server is gone: no cancel, no exception, an error counted
        registry = CancelRegistry(60, url, timeout_s=0.2, on_error=lambda: errors.append(1))
        assert not await registry.is_cancelled("x", "acme")
        await registry.share(CancelRequest("x"))
        await registry.aclose()

    asyncio.run(down())
    assert len(errors) == 2


# -- what a cancel takes away ------------------------------------------------------------------


def test_the_scheduler_gives_back_a_jobs_waiting_segments_only() -> None:
    scheduler = Scheduler(token_budget=4 * 3 * 2, max_batch_segments=4, max_wait_s=0)
    scheduler.add("big", OPTIONS, [WorkItem(i, [1, 2, 3]) for i in range(6)], now=0)
    scheduler.add("mate", OPTIONS, [WorkItem(0, [1, 2, 3])], now=0)
    batch = scheduler.next_batch(now=1)
    assert batch is not None
    in_batch = {s.index for s in batch.segments if s.job_key == "big"}
    dropped = scheduler.take_waiting("big")
    assert set(dropped) == set(range(6)) - in_batch and dropped == sorted(dropped)
    assert not any(scheduler.is_waiting("big", i) for i in range(6))
    assert scheduler.waiting_jobs() <= {"mate"}


def test_dedup_moves_a_cancelled_jobs_flights_and_keeps_those_in_a_batch() -> None:
    flights: InFlightSegments[WorkItem] = InFlightSegments()
    keys = ["k0", "k1", "k2"]
    fresh = flights.claim("x", OPTIONS, [WorkItem(i, [i]) for i in range(3)], keys)
    assert len(fresh) == 3
    assert flights.claim("y", OPTIONS, [WorkItem(i, [i]) for i in range(2)], keys) == []
    assert flights.claim("z", OPTIONS, [WorkItem(0, [9])], ["k9"]) != []
    assert flights.claim("x", OPTIONS, [WorkItem(3, [9])], [*keys, "k9"]) == []
    # x's segment 0 is in a batch; 1 and 2 were taken from the scheduler; it follows z's 0,
    # which still waits.
    gone, moved = flights.cancel("x", [1, 2], waiting=lambda holder: holder == ("z", 0))
    assert gone == [1, 2, 3]
    [rehomed] = moved  # y now owns segment 1's flight and must enqueue it
    assert rehomed.job_key == "y" and [item.index for item in rehomed.work] == [1]
    assert flights.finish("x", 0) == [("x", 0), ("y", 0)]  # the batch finishes for both
    assert flights.finish("z", 0) == [("z", 0)]
