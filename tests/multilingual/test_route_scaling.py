"""One worker pool scaled on the sum of its route queues (mtq/tools/route_scaling.py).

The broker test asks a real RabbitMQ's management API for the trigger's regex the way KEDA's
scaler does with ``useRegex`` (one page of ``/api/queues/<vhost>`` filtered by ``name`` with
``use_regex=true``) and adds up ``messages`` as ``operation: sum`` does.
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote, urlencode

import aio_pika
import pytest

from mtq.core.errors import ConfigError
from mtq.core.topology import dead_letter_queue, declare_job_topology, interactive_queue, job_queue
from mtq.tools.route_scaling import (
    desired_replicas,
    job_queues_regex,
    matched_queues,
    page_size,
    sum_trigger,
)
from tests.harness.broker import management, vhost_of
from tests.harness.env import wait_for

ROUTES = ("en-de", "en-fr", "de-fr", "en-pt_BR", "zh_Hant-en")


def test_the_regex_matches_exactly_the_routes_job_queues() -> None:
    trigger = sum_trigger(ROUTES, value=16)["metadata"]
    others = [dead_letter_queue(r) for r in ROUTES] + [
        job_queue("en-es"), job_queue("en-de_CH"), job_queue("xen-de"), "mtq.results",
        "mtq.jobsxen-de", "mtq.jobs.en-de.x", "mtq.jobs.en-de.interactive.dead",
        interactive_queue("en-es"),
    ]
    lanes = [*map(job_queue, ROUTES), *map(interactive_queue, ROUTES)]
    assert matched_queues(trigger, [*others, *lanes]) == lanes
    assert trigger["operation"] == "sum"
    assert trigger["protocol"] == "http"  # useRegex is an http-protocol feature


def test_one_trigger_per_queue_under_provisions_and_the_sum_does_not() -> None:
    depths = [16.0] * 10
    assert desired_replicas(depths, 16, "max") == 1
    assert desired_replicas(depths, 16, "sum") == 10


def test_the_page_holds_every_route() -> None:
    assert page_size(ROUTES) == 100
    assert page_size([f"en-x{i}" for i in range(51)]) == 200  # two lanes per route
    with pytest.raises(ConfigError, match="several worker Deployments"):
        page_size([f"en-x{i}" for i in range(251)])


def test_bad_routes_are_refused() -> None:
    with pytest.raises(ConfigError):
        job_queues_regex(["en.de"])


@pytest.mark.integration
async def test_the_management_api_sums_what_keda_would_read(amqp_url: str) -> None:
    waiting = {route: n + 1 for n, route in enumerate(ROUTES)}
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        topology = await declare_job_topology(channel, (*ROUTES, "en-es"), delivery_limit=10)
        for route, count in {**waiting, "en-es": 7}.items():  # en-es: not this pool's
            for n in range(count):
                await topology.exchange.publish(
                    aio_pika.Message(b"{}", message_id=f"{route}-{n}"), routing_key=route
                )
        await topology.exchange.publish(  # the interactive lane counts too
            aio_pika.Message(b"{}", message_id="chat"), routing_key="en-de.interactive"
        )
        trigger = sum_trigger(ROUTES, value=16)["metadata"]
        vhost = quote(vhost_of(amqp_url), safe="")
        query = urlencode({"page": 1, "page_size": trigger["pageSize"],
                           "name": trigger["queueName"], "use_regex": "true"})

        def summed() -> tuple[int, list[str]] | None:
            page = management("GET", f"queues/{vhost}?{query}")
            names = sorted(q["name"] for q in page["items"])
            total = sum(int(q.get("messages") or 0) for q in page["items"])
            return (total, names) if total == sum(waiting.values()) + 1 else None

        # Management statistics refresh every few seconds.
        total, names = await asyncio.to_thread(wait_for, summed, 60, "the summed queue depth")
    assert names == sorted([*map(job_queue, ROUTES), *map(interactive_queue, ROUTES)])
    assert total == sum(waiting.values()) + 1
