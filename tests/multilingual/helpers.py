"""Worker-level helpers for the multilingual tests: settings, jobs of several pairs, a burst run."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from mtq.client.declare import declare_all
from mtq.core.settings import Settings
from tests.integration.helpers import events_by_job, make_job, publish_raw
from tests.multilingual.conftest import BEAM, MAX_NEW_TOKENS, Item
from worker.app import Worker
from worker.engines.model_set import ModelSet

CALLBACK = "https://client.example/hooks/mt"


def settings_for(amqp_url: str, **changes: Any) -> Settings:
    base = Settings(
        amqp_url=amqp_url, metrics_port=0, batch_max_wait_ms=50, prefetch=32,
        drain_timeout_s=30, device="cpu", dtype="float32", torch_threads=1,
    )
    return base.replace(**changes)


def jobs_for(items: list[Item], size: int = 2) -> list[dict[str, Any]]:
    """Jobs of ``size`` segments, one pair each, in the order the items come."""
    by_pair: dict[tuple[str, str], list[Item]] = {}
    for item in items:
        by_pair.setdefault((item.source, item.target), []).append(item)
    jobs = []
    for (source, target), group in by_pair.items():
        for start in range(0, len(group), size):
            texts = [i.text for i in group[start:start + size]]
            jobs.append(make_job(
                f"{source}-{target}-{start}", texts, CALLBACK, source_lang=source,
                target_lang=target, options={"beam_size": BEAM, "max_new_tokens": MAX_NEW_TOKENS},
            ))
    return jobs


def publish(amqp_url: str, jobs: list[dict[str, Any]]) -> None:
    for job in jobs:  # interleaved pairs, all waiting before the worker starts
        publish_raw(amqp_url, [json.dumps(job).encode()],
                    route=f"{job['source_lang']}-{job['target_lang']}")


def run_worker(settings: Settings) -> Worker:
    asyncio.run(declare_all(settings))
    worker = Worker(settings, ModelSet.load(settings))
    assert asyncio.run(worker.run(burst=True, health=False)) == 0
    return worker


def translate_all(settings: Settings, jobs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Declare, publish ``jobs``, run a burst worker; every job's event, each one completed."""
    asyncio.run(declare_all(settings))
    publish(settings.amqp_url, jobs)
    run_worker(settings)
    events = events_by_job(settings.amqp_url)
    for job in jobs:
        assert events[job["job_id"]]["type"] == "job.completed", events.get(job["job_id"])
    return events
