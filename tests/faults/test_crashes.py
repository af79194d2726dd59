"""kill -9 mid-batch and poison jobs, with real ``mtq worker`` processes restarted in a loop."""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest

from mtq.core.headers import DELIVERY_COUNT_HEADER
from tests.faults.conftest import (
    DEAD_QUEUE,
    MARKER,
    batches_started,
    declare,
    in_flight,
    ready,
    wait_for,
)
from tests.integration.helpers import drain_queue, drain_results, make_job, publish_jobs

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.fault]
CALLBACK = "https://client.example/hooks/mt"


def results(amqp_url: str) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """Take every result: (job id -> event, job id -> the x-delivery-count it was answered
    with, from the result message's header; the last answer counts)."""
    events: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for headers, body in drain_results(amqp_url):
        event = json.loads(body)
        events[event["job_id"]] = event
        counts[event["job_id"]] = int(headers[DELIVERY_COUNT_HEADER])
    return events, counts


def supervise(spawn: Any, env: dict[str, str], max_runs: int) -> list[int]:
    """Restart a burst worker after every crash until one finishes (exit 0), like a pod."""
    codes: list[int] = []
    for run in range(max_runs):
        worker = spawn(["worker", "--burst"], env, f"worker-{run}")
        code = worker.wait(180)
        assert code is not None, "a burst worker hung"
        codes.append(code)
        if code == 0:
            return codes
    raise AssertionError(f"no clean run after {max_runs} starts: exit codes {codes}")


def test_kill_9_mid_batch_redelivers_and_a_solo_rerun_spares_the_neighbours(
    amqp_url: str, spawn: Any, fault_env: dict[str, str]
) -> None:
    env = {**fault_env, "MTQ_PREFETCH": "6"}
    long = make_job("long", [f"Slow {MARKER}:sleep=3 batch."], CALLBACK,
                    options={"beam_size": 1, "max_new_tokens": 8})
    others = [make_job(f"job-{n}", ["Hello world.", "Good morning."], CALLBACK) for n in range(7)]
    declare(amqp_url)
    first = spawn(["worker"], env, "first")
    wait_for(first.ready, 60, "the first worker to consume")
    publish_jobs(amqp_url, [long])
    wait_for(lambda: in_flight(first) == 1, 30, "the long job to be received")
    wait_for(lambda: batches_started(first) >= 1, 30, "the long job's batch to start")
    publish_jobs(amqp_url, others)
    wait_for(lambda: in_flight(first) == 6, 30, "a full prefetch window behind the long batch")
    first.send(signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL
    wait_for(lambda: ready(amqp_url) == 8, 10, "the window to be back in the queue")

    # The next worker gets the same six back, now redelivered: they run alone, one at a time,
    # so killing it during the long job costs a delivery to that job only.
    second = spawn(["worker"], env, "second")
    wait_for(lambda: "job long: running alone" in second.log_text(), 60, "the long job alone")
    wait_for(lambda: in_flight(second) == 1, 10, "the long job to be the only one held")
    second.send(signal.SIGKILL)
    second.wait(10)

    codes = supervise(spawn, env, max_runs=2)
    assert codes == [0]
    events, counts = results(amqp_url)
    assert {job: e["type"] for job, e in events.items()} == dict.fromkeys(
        ["long", *(f"job-{n}" for n in range(7))], "job.completed"
    )
    assert drain_queue(amqp_url, DEAD_QUEUE) == []
    assert counts["long"] == 2
    assert max(c for job, c in counts.items() if job != "long") <= 1


def test_a_poison_job_is_dead_lettered_at_the_limit_and_its_neighbours_complete(
    amqp_url: str, spawn: Any, fault_env: dict[str, str]
) -> None:
    limit = 2
    env = {**fault_env, "MTQ_PREFETCH": "4", "MTQ_DELIVERY_LIMIT": str(limit)}
    jobs = [make_job(f"ok-{n}", ["Hello world.", "How are you?"], CALLBACK) for n in range(7)]
    jobs.insert(2, make_job("poison", ["Fine.", f"This one {MARKER} crashes."], CALLBACK))
    jobs.insert(5, make_job("raiser", ["Fine.", f"This one {MARKER}:raise fails."], CALLBACK))
    declare(amqp_url, delivery_limit=limit)
    publish_jobs(amqp_url, jobs)

    codes = supervise(spawn, env, max_runs=limit + 4)

    assert codes == [70] * (limit + 1) + [0]  # one crash per delivery of the poison job
    dead = drain_queue(amqp_url, DEAD_QUEUE)
    assert [body for _, body in dead] and len(dead) == 1
    headers, body = dead[0]
    assert b'"poison"' in body
    assert headers["x-first-death-reason"] == "delivery_limit"
    events, counts = results(amqp_url)
    assert set(events) == {job["job_id"] for job in jobs} - {"poison"}
    assert events["raiser"]["error"]["code"] == "segment_failed"
    assert all(events[f"ok-{n}"]["type"] == "job.completed" for n in range(7))
    assert max(counts.values()) <= limit  # no healthy job came near the limit's end
