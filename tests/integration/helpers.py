"""Job and result helpers shared by integration and fault tests (pika, blocking: call outside
the loop). Broker, process and receiver helpers are in :mod:`tests.harness`."""

from __future__ import annotations

import json
import time
from typing import Any

import pika

from mtq.topology import JOBS_EXCHANGE
from tests.harness import queue_depth

__all__ = ["drain_queue", "events_by_job", "make_job", "publish_jobs", "publish_raw",
           "queue_depth"]  # queue_depth: an old name, kept for callers still importing it here


def make_job(job_id: str, segments: list[str], callback_url: str, **extra: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "job_id": job_id,
        "source_lang": "en",
        "target_lang": "de",
        "segments": segments,
        "callback_url": callback_url,
        "options": {"beam_size": 2, "max_new_tokens": 8},
        "metadata": {"job": job_id},
    }
    job.update(extra)
    return job


def publish_raw(amqp_url: str, bodies: list[bytes], route: str = "en-de") -> None:
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


def events_by_job(amqp_url: str) -> dict[str, dict[str, Any]]:
    return {
        json.loads(body)["job_id"]: json.loads(body)
        for _, body in drain_queue(amqp_url, "mtq.results")
    }
