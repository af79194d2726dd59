"""Fault-test fixtures: real ``mtq worker`` / ``mtq dispatcher`` processes, broker controls.

The process helpers live in ``bench/soak.py`` (the soak uses the same ones). Tests that stop
the whole RabbitMQ node are marked ``fault`` and always start it again in a ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from bench.soak import MtqProcess, consumers, mtq_env, wait_until
from mtq.settings import Settings
from mtq.topology_cli import declare_all
from tests.conftest import TEST_SECRET, WebhookReceiver
from tests.integration.helpers import queue_depth

MARKER = "FAULT"  # MTQ_FAULT_CRASH_MARKER of the fault tests (worker/faults.py)
JOBS_QUEUE = "mtq.jobs.en-de"
DEAD_QUEUE = "mtq.jobs.en-de.dead"
LADDER = (1, 1, 2)  # MTQ_WEBHOOK_RETRY_SCHEDULE_S of the fault tests


def vhost_of(amqp_url: str) -> str:
    return unquote(urlsplit(amqp_url).path.lstrip("/"))


def receiver_port(receiver: WebhookReceiver) -> int:
    return int(receiver.server.server_address[1])


@pytest.fixture
def vhost(amqp_url: str) -> str:
    return vhost_of(amqp_url)


@pytest.fixture
def fault_env(amqp_url: str, tiny_model_path: Path, webhook_receiver: WebhookReceiver
              ) -> dict[str, str]:
    """Environment of workers and dispatchers for this test's vhost and receiver."""
    return mtq_env(
        amqp_url, tiny_model_path, receiver_port(webhook_receiver), TEST_SECRET,
        MTQ_FAULT_CRASH_MARKER=MARKER,
        MTQ_WEBHOOK_RETRY_SCHEDULE_S=" ".join(map(str, LADDER)),
    )


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Any]:
    """``spawn(command, env, name)`` starts a child; every child is stopped at teardown."""
    children: list[MtqProcess] = []

    def start(command: list[str], env: dict[str, str], name: str) -> MtqProcess:
        child = MtqProcess(command, env, tmp_path / f"{name}.log")
        child.start()
        children.append(child)
        return child

    yield start
    for child in children:
        with contextlib.suppress(Exception):
            if child.alive():
                child.send(9)
                child.wait(10)


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


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.1) -> Any:
    value = wait_until(predicate, timeout, interval)
    assert value, f"timed out after {timeout:.0f}s waiting for {what}"
    return value


@contextlib.contextmanager
def broker_stopped() -> Iterator[None]:
    """Stop the RabbitMQ application (the whole node) and always start it again."""
    subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True, timeout=120)
    try:
        yield
    finally:
        subprocess.run(["rabbitmqctl", "-q", "start_app"], check=False, timeout=180)
        subprocess.run(["rabbitmqctl", "-q", "await_startup"], check=False, timeout=180)


def log_of(child: MtqProcess) -> str:
    return child.log_text()
