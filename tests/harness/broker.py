"""The local RabbitMQ: private vhosts (management API, rabbitmqctl fallback), queue views."""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pika

from mtq.core import result_batch
from mtq.core.topology import JOBS_EXCHANGE, RESULTS_QUEUE
from tests.harness.env import AMQP_HOST

MANAGEMENT_URL = f"http://{AMQP_HOST}:15672"


class BrokerUnavailable(RuntimeError):
    """Neither the management API nor ``rabbitmqctl`` of a local RabbitMQ answers."""


def rabbitmqctl(*args: str, attempts: int = 3, timeout: float = 90) -> str:
    """Run ``rabbitmqctl -q``, retrying: under load its CLI node sometimes starts too late."""
    if shutil.which("rabbitmqctl") is None:
        raise BrokerUnavailable("rabbitmqctl not found: a local RabbitMQ is needed")
    error = ""
    for attempt in range(attempts):
        result = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True,
                                timeout=timeout, check=False)
        if result.returncode == 0:
            return result.stdout
        error = result.stderr.strip()
        if attempt + 1 < attempts:
            time.sleep(1 + attempt)
    raise BrokerUnavailable(f"rabbitmqctl {' '.join(args)} failed: {error}")


def management(method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
    """Call the management API (``/api/<path>``); ``None`` when it is not reachable."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{MANAGEMENT_URL}/api/{path}", data=data, method=method,
        headers={"content-type": "application/json",
                 "authorization": "Basic " + base64.b64encode(b"guest:guest").decode()},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
    except (urllib.error.URLError, OSError):
        return None
    return json.loads(text) if text.strip() else {}


def amqp_url_for(vhost: str) -> str:
    return f"amqp://guest:guest@{AMQP_HOST}:5672/{quote(vhost, safe='')}"


def vhost_of(amqp_url: str) -> str:
    return unquote(urlsplit(amqp_url).path.lstrip("/"))


def create_vhost(name: str) -> None:
    quoted = quote(name, safe="")
    if management("PUT", f"vhosts/{quoted}", {}) is not None and management(
        "PUT", f"permissions/{quoted}/guest", {"configure": ".*", "write": ".*", "read": ".*"}
    ) is not None:
        return
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")


def delete_vhost(name: str) -> None:
    if management("DELETE", f"vhosts/{quote(name, safe='')}") is None:
        rabbitmqctl("delete_vhost", name)


@contextlib.contextmanager
def private_vhost(prefix: str = "mtq-test") -> Iterator[tuple[str, str]]:
    """``(amqp_url, vhost)`` of a fresh vhost, deleted afterwards with everything in it."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    create_vhost(name)
    try:
        yield amqp_url_for(name), name
    finally:
        with contextlib.suppress(BrokerUnavailable):
            delete_vhost(name)


def queue_depth(amqp_url: str, queue: str) -> int:
    """Ready messages in ``queue``, read live with a passive declare (``rabbitmqctl
    list_queues`` lags by seconds for quorum queues)."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        connection.close()


def consumer_count(amqp_url: str, queue: str) -> int:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.consumer_count)
    finally:
        connection.close()


def consumers(vhost: str) -> list[dict[str, Any]]:
    """The broker's view: one dict per consumer (queue_name, prefetch_count, active)."""
    out = rabbitmqctl("list_consumers", "-p", vhost, "--formatter", "json",
                      "queue_name", "prefetch_count", "active")
    return list(json.loads(out or "[]"))


def queue_counts(vhost: str) -> dict[str, tuple[int, int]]:
    """queue -> (ready, unacked)."""
    out = rabbitmqctl("list_queues", "-p", vhost, "--formatter", "json",
                      "name", "messages_ready", "messages_unacknowledged")
    return {
        row["name"]: (int(row["messages_ready"] or 0), int(row["messages_unacknowledged"] or 0))
        for row in json.loads(out or "[]")
    }


def close_connections(vhost: str, reason: str = "mtq fault injection") -> None:
    rabbitmqctl("close_all_connections", "-p", vhost, reason)


# -- jobs in, results out (pika, blocking: call outside the event loop) ----------------------


def publish_raw(amqp_url: str, bodies: list[bytes], route: str = "en-de") -> None:
    """Publish message bodies to ``mtq.jobs`` with confirms (persistent, timestamped)."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for body in bodies:
            channel.basic_publish(
                JOBS_EXCHANGE, route, body,
                pika.BasicProperties(delivery_mode=2, timestamp=int(time.time())),
                mandatory=True,
            )
    finally:
        connection.close()


def publish_jobs(amqp_url: str, jobs: list[dict[str, Any]]) -> None:
    """Publish job objects as JSON to the ``en-de`` route."""
    publish_raw(amqp_url, [json.dumps(job).encode() for job in jobs])


def drain_queue(amqp_url: str, queue: str) -> list[tuple[dict[str, Any], bytes]]:
    """Take every message currently in ``queue``: (headers, body) pairs."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    taken = []
    try:
        channel = connection.channel()
        while True:
            method, properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return taken
            taken.append((dict(properties.headers or {}), body))
    finally:
        connection.close()


def drain_results(amqp_url: str) -> list[tuple[dict[str, Any], bytes]]:
    """Take every result event now in ``mtq.results``, in queue order: (headers, body) per
    event, the events of a batch message (``mtq/core/result_batch.py``) taken apart."""
    return [event for headers, body in drain_queue(amqp_url, RESULTS_QUEUE)
            for event in result_batch.events(headers, body)]


def take_results(amqp_url: str) -> list[dict[str, Any]]:
    """Every result event now in ``mtq.results``, in queue order."""
    return [json.loads(body) for _, body in drain_results(amqp_url)]
