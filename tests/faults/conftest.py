"""Fault-test fixtures: real worker and dispatcher processes, broker controls.

Workers run ``python -m tests.faults.fault_worker``: the real ``mtq worker`` on the
:class:`~tests.faults.faulty_engine.FaultyEngine`, so segments carrying ``MARKER`` misbehave on
demand. Process, vhost and receiver helpers come from :mod:`tests.harness`. Tests that stop the
whole RabbitMQ node are marked ``fault`` and always start it again in a ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mtq.client.declare import declare_all
from mtq.core.settings import Settings
from tests.faults.faulty_engine import MARKER
from tests.harness import (
    TEST_SECRET,
    BrokerUnavailable,
    LoopbackReceiver,
    MtqProcess,
    consumers,
    mtq_env,
    queue_depth,
    rabbitmqctl,
    vhost_of,
    wait_for,
)

__all__ = ["MARKER", "wait_for"]
FAULT_WORKER = "tests.faults.fault_worker"
JOBS_QUEUE = "mtq.jobs.en-de"
DEAD_QUEUE = "mtq.jobs.en-de.dead"
LADDER = (1, 1, 2)  # MTQ_WEBHOOK_RETRY_SCHEDULE_S of the fault tests


@pytest.fixture
def vhost(amqp_url: str) -> str:
    return vhost_of(amqp_url)


@pytest.fixture
def fault_env(amqp_url: str, tiny_model_path: Path, webhook_receiver: LoopbackReceiver
              ) -> dict[str, str]:
    """Environment of workers and dispatchers for this test's vhost and receiver.

    The window is pinned (``MTQ_INTAKE_SEGMENTS=0``: a fixed ``MTQ_PREFETCH``), so the jobs a
    worker holds in flight are the ones the tests count."""
    return mtq_env(
        amqp_url, tiny_model_path, webhook_receiver.port, TEST_SECRET,
        MTQ_WEBHOOK_RETRY_SCHEDULE_S=" ".join(map(str, LADDER)), MTQ_INTAKE_SEGMENTS="0",
        MTQ_THREAD_TUNING_S="0",  # start fast: threading by rule, these tests are about faults
    )


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[[list[str], dict[str, str], str], MtqProcess]]:
    """``spawn(command, env, name)`` starts a child (a worker on the faulty engine, or any other
    ``mtq`` command); every child is killed at teardown."""
    children: list[MtqProcess] = []

    def start(command: list[str], env: dict[str, str], name: str) -> MtqProcess:
        module = FAULT_WORKER if command[:1] == ["worker"] else "mtq"
        child = MtqProcess(command, env, tmp_path / f"{name}.log", module=module)
        child.start()
        children.append(child)
        return child

    yield start
    for child in children:
        with contextlib.suppress(OSError):
            child.kill()


def declare(amqp_url: str, delivery_limit: int = 10) -> None:
    """Declare the topology the way the children will (same delivery limit and ladder)."""
    settings = Settings(amqp_url=amqp_url, delivery_limit=delivery_limit,
                        webhook_retry_schedule_s=LADDER)
    asyncio.run(declare_all(settings))


def job_consumers(vhost: str, queue: str = JOBS_QUEUE) -> list[dict[str, Any]]:
    return [c for c in consumers(vhost) if c["queue_name"] == queue]


def ready(amqp_url: str, queue: str = JOBS_QUEUE) -> int:
    """Ready messages, read live (``rabbitmqctl list_queues`` lags by seconds for quorum
    queues; a passive declare does not)."""
    return queue_depth(amqp_url, queue)


def in_flight(worker: MtqProcess) -> int:
    """Jobs the worker holds unsettled, from its ``/metrics``."""
    return int(worker.metric("mtq_inflight_jobs") or 0)


def batches_started(worker: MtqProcess) -> int:
    """Batches the worker has handed to the engine, from its ``/metrics``."""
    return int(worker.metric("mtq_batches_started_total") or 0)


@contextlib.contextmanager
def broker_stopped() -> Iterator[None]:
    """Stop the RabbitMQ application (the whole node) and always start it again."""
    rabbitmqctl("stop_app", timeout=120)
    try:
        yield
    finally:
        with contextlib.suppress(BrokerUnavailable):
            rabbitmqctl("start_app", timeout=180)
        with contextlib.suppress(BrokerUnavailable):
            rabbitmqctl("await_startup", timeout=180)
