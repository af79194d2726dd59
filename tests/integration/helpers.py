"""Job and result helpers shared by integration and fault tests (pika, blocking: call outside
the loop). Broker, process and receiver helpers are in :mod:`tests.harness`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mtq.core.settings import Settings
from tests.harness import drain_queue, drain_results, publish_jobs, publish_raw, queue_depth

# drain_queue, drain_results, publish_jobs, publish_raw, queue_depth live in tests.harness
# (bench uses them too); kept importable here for the tests that import them from this module.
__all__ = ["drain_queue", "drain_results", "events_by_job", "make_job", "publish_jobs",
           "publish_raw", "queue_depth", "worker_settings"]


def worker_settings(amqp_url: str, model: Path, **changes: Any) -> Settings:
    """A worker on the tiny model for ``en-de`` that batches at once and drains quickly."""
    base = Settings(
        amqp_url=amqp_url, model=str(model), routes=("en-de",), metrics_port=0,
        batch_max_wait_ms=5, prefetch=16, drain_timeout_s=30,
    )
    return base.replace(**changes)


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


def events_by_job(amqp_url: str) -> dict[str, dict[str, Any]]:
    return {
        json.loads(body)["job_id"]: json.loads(body)
        for _, body in drain_results(amqp_url)
    }
