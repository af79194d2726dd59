"""Broker connection loss and broker restart, with real worker and dispatcher processes.

A long batch (``FAULT:sleep``) is on the engine when the connection goes: its result must
still reach the webhook, computed once (the redelivery is adopted by the computation in
progress), and both processes must really consume again (checked through the broker).
"""

from __future__ import annotations

from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.faults.conftest import (
    MARKER,
    batches_started,
    broker_stopped,
    declare,
    in_flight,
    job_consumers,
    wait_for,
)
from tests.harness import TEST_SECRET, LoopbackReceiver, close_connections
from tests.integration.helpers import make_job, publish_jobs

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PREFETCH = 4


def start(spawn: Any, fault_env: dict[str, str], amqp_url: str) -> tuple[Any, Any]:
    declare(amqp_url)
    env = {**fault_env, "MTQ_PREFETCH": str(PREFETCH)}
    dispatcher = spawn(["dispatcher"], env, "dispatcher")
    worker = spawn(["worker"], env, "worker")
    wait_for(worker.ready, 90, "the worker to consume")
    return worker, dispatcher


def publish_with_long_batch(amqp_url: str, url: str, worker: Any, sleep_s: float, prefix: str
                            ) -> list[str]:
    """A long batch on the engine, then three jobs that wait behind it."""
    long = make_job(f"{prefix}-long", [f"Slow {MARKER}:sleep={sleep_s} one."], url,
                    options={"beam_size": 1, "max_new_tokens": 8})
    before = batches_started(worker)
    publish_jobs(amqp_url, [long])
    wait_for(lambda: in_flight(worker) == 1, 30, "the long job to be received")
    wait_for(lambda: batches_started(worker) > before, 30, "the long job's batch to start")
    others = [make_job(f"{prefix}-{n}", ["Hello world.", "Thanks."], url) for n in range(3)]
    publish_jobs(amqp_url, others)
    wait_for(lambda: in_flight(worker) == 4, 30, "four jobs held, the long batch running")
    return [job["job_id"] for job in (long, *others)]


def hooks_by_job(receiver: LoopbackReceiver) -> dict[str, list[str]]:
    """job id -> webhook ids received (signatures verified)."""
    verifier = Webhook(TEST_SECRET)
    found: dict[str, list[str]] = {}
    for hook in receiver.delivered():
        event = verifier.verify(hook.body, hook.headers)
        assert event["type"] == "job.completed", event
        found.setdefault(event["job_id"], []).append(hook.headers["webhook-id"])
    return found


def wait_for_hooks(receiver: LoopbackReceiver, jobs: list[str], timeout: float) -> None:
    wait_for(lambda: set(jobs) <= set(hooks_by_job(receiver)), timeout,
             f"webhooks of {jobs}", interval=0.2)


def assert_consuming_again(vhost: str, worker: Any) -> None:
    """Consumer count and prefetch as the broker sees them, for both processes."""
    wait_for(lambda: [c["prefetch_count"] for c in job_consumers(vhost)] == [PREFETCH], 30,
             "the worker's consumer with its prefetch")
    wait_for(lambda: len(job_consumers(vhost, "mtq.results")) == 1, 30,
             "the dispatcher's consumer")
    assert worker.alive() and worker.ready()


def test_connection_drop_mid_batch_worker_and_dispatcher_reconnect(
    amqp_url: str, vhost: str, spawn: Any, fault_env: dict[str, str],
    webhook_receiver: LoopbackReceiver,
) -> None:
    worker, dispatcher = start(spawn, fault_env, amqp_url)
    # Long enough that the drop (a rabbitmqctl call, seconds on a loaded machine) lands in it.
    first = publish_with_long_batch(amqp_url, webhook_receiver.url, worker, 10, "a")

    close_connections(vhost, "test: connection drop")

    wait_for_hooks(webhook_receiver, first, 60)
    log = worker.log_text()
    assert "reconnected to the broker (session 2)" in log
    assert "job a-long: redelivered after a connection loss; the computation in progress" in log
    assert log.count("job a-long: job.completed") == 1  # computed and published once
    hooks = hooks_by_job(webhook_receiver)
    assert all(len(set(ids)) == 1 for ids in hooks.values())  # duplicates share the id
    assert_consuming_again(vhost, worker)
    assert dispatcher.alive()

    second = [job["job_id"] for job in [make_job("b-1", ["Again."], webhook_receiver.url)]]
    publish_jobs(amqp_url, [make_job("b-1", ["Again."], webhook_receiver.url)])
    wait_for_hooks(webhook_receiver, second, 60)


@pytest.mark.fault
def test_broker_restart_readiness_and_recovery(
    amqp_url: str, vhost: str, spawn: Any, fault_env: dict[str, str],
    webhook_receiver: LoopbackReceiver,
) -> None:
    worker, dispatcher = start(spawn, fault_env, amqp_url)
    first = publish_with_long_batch(amqp_url, webhook_receiver.url, worker, 12, "a")

    with broker_stopped():
        wait_for(lambda: not worker.ready(), 20, "/readyz to report not-ready")
        assert worker.alive() and dispatcher.alive()
        assert worker.http("/healthz") is not None and worker.http("/healthz")[0] == 200

    wait_for(worker.ready, 60, "/readyz to report ready after the restart")
    wait_for_hooks(webhook_receiver, first, 90)
    assert_consuming_again(vhost, worker)
    assert "result publish failed" in worker.log_text() or "adopts it" in worker.log_text()

    publish_jobs(amqp_url, [make_job("b-1", ["After the restart."], webhook_receiver.url)])
    wait_for_hooks(webhook_receiver, ["b-1"], 60)
