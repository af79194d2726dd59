"""Why the ScaledObjects use `protocol: http`, shown on a real RabbitMQ.

A busy worker holds up to MTQ_PREFETCH jobs delivered and unacked. The management API's
``messages`` (what KEDA's http protocol reads) counts them; ``messages_ready`` and the AMQP
passive declare (what the amqp protocol reads) do not. A plain aio-pika consumer that takes
its prefetch window and never acks looks to the broker exactly like that busy worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import aio_pika
import pytest
import requests
from aio_pika.abc import AbstractIncomingMessage

from mtq.core.topology import declare_job_topology, job_queue
from mtq.tools.plan_sim import (
    BacklogCurve,
    ScalingRules,
    hpa_desired,
    rules_from_scaledobject,
    simulate,
)
from tests.deploy.manifests import find, render
from tests.harness import MANAGEMENT_URL, vhost_of

pytestmark = pytest.mark.integration

MANAGEMENT = MANAGEMENT_URL
AUTH = ("guest", "guest")
PREFETCH = 4
ROUTE = "en-de"


def _management_up() -> bool:
    try:
        return requests.get(f"{MANAGEMENT}/api/overview", auth=AUTH, timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="session")
def management_api() -> Iterator[str]:
    """The local broker's management API, enabling the plugin if it is off."""
    if not _management_up():
        plugins = shutil.which("rabbitmq-plugins")
        if plugins is None:
            pytest.fail("rabbitmq-plugins not found: the local RabbitMQ is needed")
        result = subprocess.run(
            [plugins, "enable", "rabbitmq_management"],
            capture_output=True, text=True, timeout=120, check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"enabling rabbitmq_management failed: {result.stderr}")
        deadline = time.monotonic() + 90
        while not _management_up():
            if time.monotonic() > deadline:
                pytest.fail("the management API did not come up on port 15672 within 90 s")
            time.sleep(0.5)
    yield MANAGEMENT


def _queue_stats(vhost: str, queue: str) -> dict[str, Any]:
    url = f"{MANAGEMENT}/api/queues/{quote(vhost, safe='')}/{quote(queue, safe='')}"
    response = requests.get(url, auth=AUTH, timeout=5)
    response.raise_for_status()
    stats: dict[str, Any] = response.json()
    return stats


async def _wait_for_stats(vhost: str, queue: str, ready: int, unacked: int) -> dict[str, Any]:
    """Poll until the management stats (refreshed every ~5 s) show the expected counts."""
    deadline = time.monotonic() + 45
    stats: dict[str, Any] = {}
    while time.monotonic() < deadline:
        stats = await asyncio.to_thread(_queue_stats, vhost, queue)
        if (stats.get("messages_ready"), stats.get("messages_unacknowledged")) == (ready, unacked):
            return stats
        await asyncio.sleep(0.5)
    raise AssertionError(f"management stats never showed ready={ready} unacked={unacked}: "
                         f"{ {k: v for k, v in stats.items() if k.startswith('messages')} }")


@contextlib.asynccontextmanager
async def busy_worker(amqp_url: str, published: int, name: str) -> AsyncIterator[dict[str, Any]]:
    """Publish ``published`` jobs; a consumer with prefetch PREFETCH takes its window and never
    acks. Yields the management stats once they show it, and the passive declare's count."""
    vhost = vhost_of(amqp_url)
    queue_name = job_queue(ROUTE)
    connection = await aio_pika.connect(amqp_url, client_properties={"connection_name": name})
    async with connection:
        channel = await connection.channel()
        topology = await declare_job_topology(channel, (ROUTE,), delivery_limit=10)
        for n in range(published):
            await topology.exchange.publish(
                aio_pika.Message(b"{}", message_id=f"job-{n}",
                                 delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=ROUTE,
            )
        consumer_channel = await connection.channel()
        await consumer_channel.set_qos(prefetch_count=PREFETCH)
        held: list[AbstractIncomingMessage] = []
        window_full = asyncio.Event()

        async def hold(message: AbstractIncomingMessage) -> None:
            held.append(message)
            if len(held) == PREFETCH:
                window_full.set()

        await (await consumer_channel.get_queue(queue_name)).consume(hold)
        await asyncio.wait_for(window_full.wait(), timeout=10)
        stats = await _wait_for_stats(vhost, queue_name, published - PREFETCH, PREFETCH)
        passive = await channel.declare_queue(queue_name, passive=True)
        stats["amqp_message_count"] = passive.declaration_result.message_count
        yield stats


def worker_rules() -> ScalingRules:
    """The deployed worker ScaledObject's rules, with this test's prefetch as ``value``."""
    deployed = rules_from_scaledobject(find(render("overlays/gpu"), "ScaledObject", "mtq-worker"))
    return dataclasses.replace(deployed, value=float(PREFETCH))


@pytest.mark.parametrize("published", [PREFETCH, 3 * PREFETCH])
async def test_http_protocol_counts_prefetched_jobs(
    amqp_url: str, management_api: str, published: int
) -> None:
    name = f"test_http_protocol_counts_prefetched_jobs[{published}]"
    async with busy_worker(amqp_url, published, name) as stats:
        # What KEDA's `protocol: http` reads (QueueLength, excludeUnacknowledged false):
        assert stats["messages"] == published
        # What `protocol: amqp` reads: the passive declare's count, ready messages only.
        assert stats["amqp_message_count"] == stats["messages_ready"] == published - PREFETCH

    rules = worker_rules()
    # http: the busy pod is paid for, ceil(published / prefetch) replicas are wanted ...
    assert hpa_desired(stats["messages"], rules.value, 1, rules.tolerance) == published // PREFETCH
    assert stats["messages"] > rules.activation_value
    # ... amqp: one replica fewer, and with every job prefetched KEDA would see an idle queue.
    if published == PREFETCH:
        assert stats["amqp_message_count"] <= rules.activation_value
    else:
        assert hpa_desired(stats["amqp_message_count"], rules.value, 1, rules.tolerance) == (
            published // PREFETCH - 1
        )


async def test_deployed_rules_keep_a_busy_worker_only_with_http_counts(
    amqp_url: str, management_api: str
) -> None:
    """One worker, every job prefetched: simulate the deployed ScaledObject on each count for an
    hour. The http count keeps the pod; the amqp count scales it to zero after the cooldown,
    mid-work (its jobs would bounce back to the queue)."""
    async with busy_worker(amqp_url, PREFETCH, "test_deployed_rules_keep_a_busy_worker") as stats:
        pass
    rules = worker_rules()
    hour = 3600
    http = simulate(rules, BacklogCurve(((0, float(stats["messages"])),)), hour, 1)
    amqp = simulate(rules, BacklogCurve(((0, float(stats["amqp_message_count"])),)), hour, 1)
    assert min(s.replicas for s in http) == 1
    assert amqp[-1].replicas == 0
