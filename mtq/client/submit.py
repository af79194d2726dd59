"""Publishing jobs: confirmed, mandatory, and split to the job size limit.

Uses pika's blocking connection with publisher confirms: ``basic_publish`` returns only after
the broker confirmed the message, and raises when it was nacked or could not be routed (no
queue for that language pair). Nothing is ever dropped silently.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pika
import pika.exceptions

from mtq.client.broker import connect_blocking, unreachable
from mtq.core.contract import JOB_ID_PATTERN, InvalidJob, JobLimits, NotAJob, parse_job
from mtq.core.errors import ConfigError, PublishError
from mtq.core.topology import JOBS_EXCHANGE, interactive_routing_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobDefaults:
    """Fields a text input does not carry, and JSONL lines may omit."""

    source_lang: str | None = None
    target_lang: str | None = None
    callback_url: str | None = None
    options: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    tenant: str | None = None


def split_job(job: dict[str, Any], max_segments: int) -> list[dict[str, Any]]:
    """Split a job into parts of at most ``max_segments``, ids ``<job_id>.part-<n>``."""
    segments = job["segments"]
    if len(segments) <= max_segments:
        return [job]
    parts = []
    for number, start in enumerate(range(0, len(segments), max_segments), start=1):
        part_id = f"{job['job_id']}.part-{number}"
        if not JOB_ID_PATTERN.match(part_id):
            raise ConfigError(
                f"derived job id {part_id!r} is invalid (over 128 characters?); "
                "use a shorter --job-id"
            )
        parts.append({**job, "job_id": part_id, "segments": segments[start : start + max_segments]})
    return parts


def jobs_from_text(
    lines: Iterable[str], job_id: str, defaults: JobDefaults, max_segments: int
) -> list[dict[str, Any]]:
    """One segment per line (blank lines stay, as empty segments, to keep alignment)."""
    segments = [line.rstrip("\r\n") for line in lines]
    if not segments:
        raise ConfigError("the input has no lines to translate")
    return split_job(_with_defaults({"job_id": job_id, "segments": segments}, defaults),
                     max_segments)


def jobs_from_jsonl(
    lines: Iterable[str], defaults: JobDefaults, max_segments: int
) -> Iterator[dict[str, Any]]:
    """One job object per line; missing fields come from ``defaults``."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            job = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"line {number}: not JSON ({exc.msg})") from exc
        if not isinstance(job, dict):
            raise ConfigError(f"line {number}: expected a JSON object")
        yield from split_job(_with_defaults(job, defaults), max_segments)


def _with_defaults(job: dict[str, Any], defaults: JobDefaults) -> dict[str, Any]:
    merged = dict(job)
    for name in ("source_lang", "target_lang", "callback_url", "options", "metadata", "tenant"):
        value = getattr(defaults, name)
        if value is not None and name not in merged:
            merged[name] = value
    return merged


def validate(job: dict[str, Any], limits: JobLimits) -> None:
    """Check a job against the contract before publishing; raise ConfigError saying what."""
    try:
        parse_job(json.dumps(job).encode(), limits)
    except (NotAJob, InvalidJob) as exc:
        raise ConfigError(f"job {job.get('job_id')!r}: {exc}") from exc


class JobPublisher:
    """A confirmed publisher of job messages to ``mtq.jobs`` (bulk or interactive lane)."""

    def __init__(self, amqp_url: str, *, interactive: bool = False) -> None:
        self._interactive = interactive
        self._amqp_url = amqp_url
        self._connection = connect_blocking(amqp_url, "mtq-submit")
        self._channel = self._connection.channel()
        self._channel.confirm_delivery()

    def publish(self, job: dict[str, Any]) -> None:
        route = f"{job['source_lang']}-{job['target_lang']}"
        routing_key = interactive_routing_key(route) if self._interactive else route
        properties = pika.BasicProperties(
            content_type="application/json",
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=job["job_id"],
            timestamp=int(time.time()),
        )
        body = json.dumps(job, ensure_ascii=False).encode("utf-8")
        try:
            self._channel.basic_publish(
                JOBS_EXCHANGE, routing_key, body, properties=properties, mandatory=True
            )
        except pika.exceptions.UnroutableError as exc:
            raise PublishError(
                f"job {job['job_id']}: no queue serves {routing_key} (run `mtq topology` with "
                f"MTQ_ROUTES including {route})"
            ) from exc
        except pika.exceptions.NackError as exc:
            raise PublishError(f"job {job['job_id']}: the broker refused it (nack)") from exc
        except pika.exceptions.ChannelClosedByBroker as exc:
            raise PublishError(f"job {job['job_id']}: {exc.reply_text}") from exc
        except pika.exceptions.AMQPConnectionError as exc:  # blocked too long, or lost
            raise unreachable(self._amqp_url, exc, self._connection) from exc

    def close(self) -> None:
        if self._connection.is_open:
            self._connection.close()

    def __enter__(self) -> JobPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def publish_all(
    jobs: Iterable[dict[str, Any]], amqp_url: str, limits: JobLimits,
    on_published: Callable[[dict[str, Any]], None] | None = None, *, interactive: bool = False,
) -> tuple[int, int]:
    """Validate and publish every job; returns (jobs, segments). Stops at the first error."""
    count = segments = 0
    with JobPublisher(amqp_url, interactive=interactive) as publisher:
        for job in jobs:
            validate(job, limits)
            publisher.publish(job)
            count += 1
            segments += len(job["segments"])
            if on_published is not None:
                on_published(job)
    return count, segments


def read_input(path: str) -> list[str]:
    if path == "-":
        return sys.stdin.read().splitlines(keepends=True)
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"input file {path!r} does not exist")
    try:
        return file.read_text(encoding="utf-8").splitlines(keepends=True)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
