"""Rollover with a real worker, broker and tracking server: jobs stream in while the alias
moves to version 2, to a version that cannot load, and back to version 1. Nothing is lost or
failed, every job is answered by one version only (its translations are that version's), the
broken version leaves the serving one in place, and the retired versions are freed."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mtq.client.declare import declare_all
from mtq.core.contract import DecodeOptions
from mtq.core.settings import Settings
from tests.harness import drain_results
from tests.integration.helpers import make_job, publish_jobs, worker_settings
from tests.registry.conftest import Registered
from worker.app import Worker
from worker.engines import Engine, load_engine
from worker.engines.hf import HFEngine
from worker.engines.model_set import ModelSet
from worker.registry.loader import RegistryLoader

pytestmark = pytest.mark.integration
SENTENCES = ["Hello world.", "How are you today?", "The cat sat on the mat.",
             "Send the report by Friday.", "Rain is expected tomorrow."]
OPTIONS = DecodeOptions(beam_size=2, max_new_tokens=8)  # make_job's options


def expected(engine: Engine) -> dict[str, str]:
    return {s: engine.decode(engine.generate(engine.encode([s]), OPTIONS))[0]
            for s in SENTENCES}


@pytest.fixture(scope="module")
def broken_version(registered: Registered, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Version 3: a folder whose config names no model transformers knows."""
    import mlflow
    from mlflow import MlflowClient

    folder = tmp_path_factory.mktemp("broken")
    (folder / "config.json").write_text(json.dumps({"model_type": "no-such-model"}))
    mlflow.set_tracking_uri(registered.url)
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(folder), artifact_path="hf")
    version = MlflowClient(registered.url, registered.url).create_model_version(
        registered.name, source=f"runs:/{run.info.run_id}/hf", run_id=run.info.run_id)
    return str(version.version)


class RunningWorker:
    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.code: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.code = asyncio.run(self.worker.run(health=False))

    def metric(self, name: str, model: str) -> float:
        value = self.worker.registry.get_sample_value(name, {"model": model})
        return value or 0.0

    def stop(self) -> None:
        loop = self.worker._loop
        assert loop is not None
        loop.call_soon_threadsafe(self.worker.request_stop)
        self.thread.join(60)


@pytest.fixture
def running(champion: Registered, amqp_url: str, tmp_path: Path) -> Iterator[RunningWorker]:
    settings = worker_settings(amqp_url, Path("unused"), torch_threads=1).replace(
        model=f"models:/{champion.name}@champion", registry_poll_s=0.2)
    loader = RegistryLoader(load_engine, cache=str(tmp_path), tracking_uri=champion.url)
    asyncio.run(declare_all(settings))
    running = RunningWorker(Worker(settings, ModelSet.load(settings, loader), loader=loader))
    running.thread.start()
    try:
        yield running
    finally:
        running.stop()


def wait_for(condition: Any, what: str, limit_s: float = 240) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def test_alias_moves_while_jobs_stream(
    running: RunningWorker, champion: Registered, broken_version: str, amqp_url: str,
    engine: Engine,
) -> None:
    reference = f"models:/{champion.name}@champion"
    by_version = {"1": expected(engine),
                  "2": expected(HFEngine(Settings(model=str(champion.v2_folder))))}
    assert by_version["1"] != by_version["2"]
    published: list[str] = []
    events: dict[str, dict[str, Any]] = {}
    seen_at: list[float] = []  # when each event was collected (the report below)

    def stream(count: int) -> None:
        for _ in range(count):
            job_id = f"job-{uuid.uuid4().hex[:10]}"
            segments = [SENTENCES[(len(published) + i) % len(SENTENCES)] for i in range(3)]
            publish_jobs(amqp_url, [make_job(job_id, segments, "https://x.example/h")])
            published.append(job_id)
            collect()

    def collect() -> None:
        for _, body in drain_results(amqp_url):
            event = json.loads(body)
            events[event["job_id"]] = event
            seen_at.append(time.monotonic())

    def switched(times: float) -> bool:
        return running.metric("mtq_registry_switches_total", reference) >= times

    stream(10)
    champion.move_alias("2")
    moved_at = time.monotonic()
    while not switched(1):  # jobs keep coming while version 2 loads and warms
        stream(2)
    switched_at = time.monotonic()
    first_switch_s = running.metric("mtq_registry_switch_seconds", reference)
    stream(10)
    champion.move_alias(broken_version)
    while running.metric("mtq_registry_load_failures_total", reference) < 1:
        stream(2)
    stream(5)
    champion.move_alias("1")  # roll back
    while not switched(2):
        stream(2)
    stream(10)
    wait_for(lambda: (collect(), len(events) >= len(published))[1], "every job's event")

    assert sorted(events) == sorted(published)  # 0 lost
    versions = {"1": 0, "2": 0}
    for job_id, event in events.items():
        assert event["type"] == "job.completed", event  # 0 failed
        registry = event["model"]["registry"]
        assert registry["alias"] == "champion" and registry["name"] == champion.name
        version = registry["version"]
        versions[version] += 1
        table = by_version[version]
        # One version only: every segment is that version's translation.
        assert [table[s] for s in _segments(job_id, published)] == event["translations"]
    assert versions["1"] > 0 and versions["2"] > 0, versions
    _report(running, reference, (moved_at, switched_at, first_switch_s), seen_at, versions)
    assert running.metric("mtq_registry_version", reference) == 1
    wait_for(lambda: len(running.worker.models.engines) == 1,
             "the retired versions to be freed", 30)


def _segments(job_id: str, published: list[str]) -> list[str]:
    n = published.index(job_id)
    return [SENTENCES[(n + i) % len(SENTENCES)] for i in range(3)]



def _report(running: RunningWorker, reference: str, times: tuple[float, float, float],
            seen_at: list[float], versions: dict[str, int]) -> None:
    """What docs/registry.md quotes (printed with ``pytest -s``; nothing here is asserted)."""
    moved_at, switched_at, first_switch_s = times
    rollback_s = running.metric("mtq_registry_switch_seconds", reference)
    def rate(start: float, end: float) -> float:
        return sum(start <= t < end for t in seen_at) / max(end - start, 1e-9)

    during = rate(moved_at, switched_at)
    before = rate(seen_at[0], moved_at) if seen_at and seen_at[0] < moved_at else 0.0
    print(f"\nrollover: jobs per version {versions}; "
          f"switch to v2 (fetch+load+warm) {first_switch_s:.2f} s, "
          f"rollback to v1 (cached) {rollback_s:.2f} s; "
          f"alias move to switch seen {switched_at - moved_at:.2f} s; "
          f"results/s before {before:.1f}, during the load {during:.1f}")
