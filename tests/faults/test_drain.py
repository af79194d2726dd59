"""SIGTERM on a real ``mtq worker`` process (Kubernetes scale-in, rolling update).

A job holds a long "GPU" batch (``FAULT:sleep``); the jobs published after it are prefetched
and wait in the scheduler, not started.
"""

from __future__ import annotations

import signal
from typing import Any

import pytest

from tests.faults.conftest import (
    JOBS_QUEUE,
    MARKER,
    batches_started,
    in_flight,
    job_consumers,
    ready,
    wait_for,
)
from tests.integration.helpers import drain_queue, events_by_job, make_job, publish_jobs

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CALLBACK = "https://client.example/hooks/mt"


def publish_behind_a_long_batch(amqp_url: str, worker: Any, sleep_s: float, others: int) -> None:
    """The long job first; once it is on the engine, the others, which then wait behind it."""
    before = batches_started(worker)
    publish_jobs(amqp_url, [make_job("long", [f"Hello {MARKER}:sleep={sleep_s} there."], CALLBACK,
                                     options={"beam_size": 1, "max_new_tokens": 8})])
    wait_for(lambda: in_flight(worker) == 1, 30, "the long job to be received")
    wait_for(lambda: batches_started(worker) > before, 30, "the long job's batch to start")
    publish_jobs(amqp_url, [
        make_job(f"waiting-{n}", ["How are you?", "Fine."], CALLBACK) for n in range(others)
    ])
    wait_for(lambda: in_flight(worker) == others + 1, 30, "every job to be delivered")


def start_worker(spawn: Any, fault_env: dict[str, str], drain_timeout: float) -> Any:
    env = {**fault_env, "MTQ_PREFETCH": "6", "MTQ_DRAIN_TIMEOUT_S": str(drain_timeout)}
    worker = spawn(["worker"], env, "worker")
    wait_for(worker.ready, 90, "the worker to consume")
    return worker


def test_sigterm_stops_consuming_finishes_the_batch_requeues_the_rest_and_exits_0(
    amqp_url: str, vhost: str, spawn: Any, fault_env: dict[str, str]
) -> None:
    worker = start_worker(spawn, fault_env, drain_timeout=30)
    publish_behind_a_long_batch(amqp_url, worker, sleep_s=4, others=5)

    worker.send(signal.SIGTERM)
    wait_for(lambda: not job_consumers(vhost), 3, "the consumer to be cancelled at once")
    wait_for(lambda: ready(amqp_url) == 5, 3, "unstarted jobs to be requeued")
    assert worker.wait(30) == 0

    # The batch on the engine was waited for: the long job was answered before the exit.
    events = events_by_job(amqp_url)
    assert set(events) == {"long"} and events["long"]["type"] == "job.completed"
    back = drain_queue(amqp_url, JOBS_QUEUE)
    assert len(back) == 5
    assert all(headers.get("x-delivery-count") == 1 for headers, _ in back)
    assert "drained cleanly" in worker.log_text()


@pytest.mark.parametrize("how", ["drain_timeout", "second_sigterm"])
def test_timeout_or_second_sigterm_exits_promptly_and_loses_nothing(
    amqp_url: str, vhost: str, spawn: Any, fault_env: dict[str, str], how: str
) -> None:
    drain_timeout = 2 if how == "drain_timeout" else 120
    worker = start_worker(spawn, fault_env, drain_timeout=drain_timeout)
    publish_behind_a_long_batch(amqp_url, worker, sleep_s=60, others=2)

    worker.send(signal.SIGTERM)
    wait_for(lambda: ready(amqp_url) == 2, 5, "unstarted jobs to be requeued")
    if how == "second_sigterm":
        worker.send(signal.SIGTERM)
    # Well before the 60 s batch ends (None if still running): the batch was abandoned.
    assert worker.wait(20) == 0
    # The job on the engine was never acked: the broker has it again, nothing is lost.
    wait_for(lambda: ready(amqp_url) == 3, 10, "the unfinished job to be returned")
    assert events_by_job(amqp_url) == {}
    assert "drain ended with 1 jobs unfinished" in worker.log_text()
