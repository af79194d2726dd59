"""A test set through the serving path: a real worker on the model, the real queues.

The segments are published as jobs (``mtq.client.submit``'s confirmed publisher) to
``mtq.jobs.<route>`` of ``MTQ_AMQP_URL``; a worker on the model runs in this process in burst
mode (it stops once its queue is empty and nothing is in flight); a consumer on
``mtq.results`` collects the events as they come. Results are taken off ``mtq.results``, so
the broker (its vhost) must be one that no other worker or dispatcher uses: evaluation
refuses to start when those queues have consumers or messages.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mtq.client.broker import connect_blocking
from mtq.client.declare import declare_all
from mtq.client.submit import JobPublisher
from mtq.core import result_batch
from mtq.core.errors import ConfigError, MtqError
from mtq.core.settings import Settings
from mtq.core.topology import RESULTS_QUEUE, job_queue

# Never called: evaluation takes the events off mtq.results before any dispatcher could.
CALLBACK_URL = "https://mtq-evaluate.invalid/never-called"


@dataclass(frozen=True)
class Served:
    """What the serving path answered for a test set, in the test set's order."""

    translations: list[str]
    confidence: list[float] | None  # None: the events carry no ``confidence``
    model: dict[str, Any]  # the events' ``model`` block (``registry`` names the version)


def _chunks(segments: list[str], size: int) -> list[list[str]]:
    return [segments[i:i + size] for i in range(0, len(segments), size)]


def check_idle(settings: Settings, route: str) -> None:
    """ConfigError unless the route's queue and ``mtq.results`` are empty and unconsumed."""
    connection = connect_blocking(settings.amqp_url, "mtq-evaluate-check")
    try:
        channel = connection.channel()
        for queue in (job_queue(route), RESULTS_QUEUE):
            method = channel.queue_declare(queue, passive=True).method
            if method.consumer_count or method.message_count:
                raise ConfigError(
                    f"{queue} has {method.consumer_count} consumer(s) and "
                    f"{method.message_count} message(s): mtq evaluate needs a broker vhost of "
                    "its own (MTQ_AMQP_URL), where no worker or dispatcher runs"
                )
    finally:
        connection.close()


class Collector(threading.Thread):
    """Consumes ``mtq.results`` and keeps the events of one evaluation's jobs."""

    def __init__(self, settings: Settings, prefix: str, expected: int,
                 on_event: Callable[[dict[str, Any]], None]) -> None:
        super().__init__(name="mtq-evaluate-results", daemon=True)
        self._settings = settings
        self._prefix = prefix
        self._expected = expected
        self._on_event = on_event
        self.events: dict[str, dict[str, Any]] = {}
        self.error: BaseException | None = None
        self._stop_at: float | None = None

    def finish_by(self, deadline: float) -> None:
        self._stop_at = deadline

    def run(self) -> None:
        try:
            connection = connect_blocking(self._settings.amqp_url, "mtq-evaluate-results")
        except BaseException as exc:
            self.error = exc
            return
        try:
            channel = connection.channel()
            channel.basic_qos(prefetch_count=256)
            for method, properties, body in channel.consume(RESULTS_QUEUE, inactivity_timeout=0.2):
                if method is not None:
                    self._take(properties.headers, body)
                    channel.basic_ack(method.delivery_tag)
                if len(self.events) >= self._expected or (
                        self._stop_at is not None and time.monotonic() > self._stop_at):
                    break
            channel.cancel()
        finally:
            connection.close()

    def _take(self, headers: Any, body: bytes) -> None:
        for _, part in result_batch.events(headers, body):
            event = json.loads(part)
            if event.get("type") == "job.progress":  # not an answer; only asked-for anyway
                continue
            if str(event.get("job_id", "")).startswith(self._prefix):
                self.events[event["job_id"]] = event
                self._on_event(event)


def serve_test_set(
    settings: Settings, route: str, segments: list[str], *, job_segments: int,
    run_worker: Callable[[Settings], int], on_event: Callable[[dict[str, Any]], None],
) -> Served:
    """Translate ``segments`` with a worker that ``run_worker`` runs on ``settings``."""
    source, target = route.split("-", 1)
    asyncio.run(declare_all(settings))
    check_idle(settings, route)
    prefix = f"eval-{uuid.uuid4().hex[:10]}-"
    jobs = [{"job_id": f"{prefix}{n}", "source_lang": source, "target_lang": target,
             "segments": chunk, "callback_url": CALLBACK_URL}
            for n, chunk in enumerate(_chunks(segments, job_segments))]
    collector = Collector(settings, prefix, len(jobs), on_event)
    with JobPublisher(settings.amqp_url) as publisher:
        for job in jobs:
            publisher.publish(job)
    collector.start()
    try:
        code = run_worker(settings)  # burst: returns once the queue is empty, results published
    except BaseException:  # the model did not load, or Ctrl-C: stop collecting at once
        collector.finish_by(time.monotonic())
        collector.join()
        raise
    collector.finish_by(time.monotonic() + 60)
    collector.join()
    if collector.error is not None:
        raise collector.error
    if code != 0:
        raise MtqError(f"the evaluation worker stopped with exit status {code}")
    return _assemble(jobs, collector.events)


def _assemble(jobs: list[dict[str, Any]], events: dict[str, dict[str, Any]]) -> Served:
    missing = [job["job_id"] for job in jobs if job["job_id"] not in events]
    if missing:
        raise MtqError(f"{len(missing)} of {len(jobs)} evaluation jobs got no result (first: "
                       f"{missing[0]}); see mtq dlq list")
    failed = [e for e in events.values() if e.get("type") != "job.completed"]
    if failed:
        error = failed[0].get("error", {})
        raise MtqError(f"{len(failed)} evaluation jobs failed (first: {failed[0]['job_id']}: "
                       f"{error.get('code')}: {error.get('message')})")
    translations: list[str] = []
    confidence: list[float] | None = []
    for job in jobs:
        event = events[job["job_id"]]
        translations.extend(event["translations"])
        scores = event.get("confidence")
        if confidence is not None and isinstance(scores, list) and \
                len(scores) == len(event["translations"]):
            confidence.extend(float(s) for s in scores)
        else:
            confidence = None  # absent (or not one number per translation): not reported
    return Served(translations, confidence, events[jobs[0]["job_id"]]["model"])
