"""The AMQP side of the gateway tests: reference translations of the same segments over the
job contract, events as a worker publishes them, and the control messages the gateway sends."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pika

from mtq.core.topology import JOBS_EXCHANGE, RESULTS_EXCHANGE, RESULTS_ROUTING_KEY
from tests.harness import drain_queue, drain_results, wait_for

CONTROL_EXCHANGE = "mtq.control"


def reference(amqp_url: str, segments: list[str], markup: str | None = None,
              **extra: Any) -> list[str]:
    """The translations of ``segments`` sent as an ordinary AMQP job (default options, or
    ``markup`` and the job fields in ``extra``)."""
    job: dict[str, Any] = {"job_id": f"ref-{uuid.uuid4().hex}", "source_lang": "en",
                           "target_lang": "de", "segments": segments,
                           "callback_url": "https://client.example/hooks/mt", **extra}
    if markup:
        job["options"] = {"markup": markup}
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(JOBS_EXCHANGE, "en-de", json.dumps(job).encode(),
                              pika.BasicProperties(delivery_mode=2), mandatory=True)
    finally:
        connection.close()
    seen: dict[str, Any] = {}

    def answered() -> Any:
        for _, body in drain_results(amqp_url):
            event = json.loads(body)
            seen[event["job_id"]] = event
        return seen.get(job["job_id"])

    event = wait_for(answered, 120, f"the AMQP reference job {job['job_id']}", interval=0.3)
    assert event["type"] == "job.completed", event
    return list(event["translations"])


def publish_event(amqp_url: str, event: dict[str, Any]) -> None:
    """An event into ``mtq.results`` as a worker publishes one."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(RESULTS_EXCHANGE, RESULTS_ROUTING_KEY, json.dumps(event).encode(),
                              pika.BasicProperties(delivery_mode=2))
    finally:
        connection.close()


def control_queue(amqp_url: str) -> str:
    """A queue of this test's own on the control exchange (which the gateway declares)."""
    name = f"test-control-{uuid.uuid4().hex[:8]}"
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.queue_declare(name, durable=True)
        channel.queue_bind(name, CONTROL_EXCHANGE)
    finally:
        connection.close()
    return name


def control_messages(amqp_url: str, queue: str) -> list[dict[str, Any]]:
    return [json.loads(body) for _, body in drain_queue(amqp_url, queue)]
