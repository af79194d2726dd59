"""One streamed run: a real worker on ``models:/NAME@champion`` in this process, its jobs
published by a client process, its results taken off ``mtq.results`` by another.

The worker runs its own event loop on a thread (as in a pod, with the inference thread
beside it); the main thread watches the results arrive, samples the process's RSS and the
worker's registry, and calls ``on_progress`` so a run can move an alias mid-stream. The
client publishes every job at once with confirms, so the worker has a backlog (it is
saturated) until the last few jobs.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.publisher import PublisherProcess
from bench.sink import RESULTS, SinkProcess
from mtq.client.declare import declare_all
from mtq.core.settings import Settings
from mtq.core.topology import job_queue
from tests.harness import consumer_count, private_vhost
from worker.app import Worker
from worker.engines import load_engine
from worker.engines.model_set import ModelSet
from worker.registry.loader import RegistryLoader

ROUTE = "en-de"
CALLBACK = "https://x.example/hooks"


@dataclass(frozen=True)
class Result:
    """One job's event, as the client saw it."""

    arrived: float  # time.monotonic()
    type: str
    version: str | None
    role: str | None
    translations: tuple[str, ...]


@dataclass
class Streamed:
    first_publish: float
    results: dict[str, Result]
    duplicates: int
    rss: list[tuple[float, int]]  # (time.monotonic(), bytes), sampled through the run
    marks: dict[str, float] = field(default_factory=dict)  # what on_progress noted, and when
    shadow: dict[str, float] = field(default_factory=dict)  # mtq_shadow_* samples at the end
    resident_after: int = 0  # engines the worker holds at the end


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class Watch:
    """What ``on_progress`` sees: results so far, the worker, and a place for marks."""

    def __init__(self, worker: Worker, marks: dict[str, float]) -> None:
        self.worker = worker
        self.marks = marks
        self.done = 0

    def metric(self, name: str, **labels: str) -> float:
        return self.worker.registry.get_sample_value(name, labels) or 0.0


def job_body(job_id: str, segments: list[str], options: dict[str, int]) -> dict[str, Any]:
    return {"job_id": job_id, "source_lang": "en", "target_lang": "de", "segments": segments,
            "callback_url": CALLBACK, "options": options}


def stream(
    settings: Settings, tracking_uri: str, cache: Path, jobs: list[dict[str, Any]], *,
    on_progress: Callable[[Watch], None] = lambda watch: None, settle: Callable[[Watch], bool]
    = lambda watch: True, pace: float = 0.0, timeout_s: float = 1800,
) -> Streamed:
    """Run ``jobs`` through a fresh worker in a private vhost; ``settle`` is polled after the
    last result until true (or 120 s), before the worker stops; ``pace``: jobs published per
    second (0: all at once)."""
    with private_vhost("mtq-bench-registry") as (amqp_url, _vhost):
        run_settings = settings.replace(amqp_url=amqp_url, routes=(ROUTE,), metrics_port=0)
        asyncio.run(declare_all(run_settings))
        loader = RegistryLoader(load_engine, cache=str(cache), tracking_uri=tracking_uri)
        worker = Worker(run_settings, ModelSet.load(run_settings, loader), loader=loader)
        codes: list[int] = []
        thread = threading.Thread(target=lambda: codes.append(
            asyncio.run(worker.run(health=False))), name="bench-worker", daemon=True)
        thread.start()
        marks: dict[str, float] = {}
        sink: SinkProcess | None = None
        client: PublisherProcess | None = None
        try:  # whatever fails, the worker stops before its vhost goes
            sink = SinkProcess(RESULTS, amqp_url)
            client = PublisherProcess(amqp_url, jobs, pace)
            _until_consuming(worker, thread, amqp_url)
            if not client.wait_connected(120):
                raise RuntimeError("the client process did not connect in 120 s")
            watch = Watch(worker, marks)
            rss = [(time.monotonic(), rss_bytes())]
            client.go()
            deadline = time.monotonic() + timeout_s
            while True:
                watch.done = sink.count()
                if watch.done >= len(jobs):
                    break
                if not thread.is_alive():
                    raise RuntimeError(f"the worker stopped during the run ({codes})")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{watch.done} of {len(jobs)} results in {timeout_s} s")
                client.poll()
                on_progress(watch)
                rss.append((time.monotonic(), rss_bytes()))
                time.sleep(0.05)
            marks.setdefault("last_result", time.monotonic())
            settle_deadline = time.monotonic() + 120
            while not settle(watch) and time.monotonic() < settle_deadline:
                on_progress(watch)
                time.sleep(0.1)
            rss.append((time.monotonic(), rss_bytes()))
            first, _last_confirm = client.answer(60)
            shadow = {s.name + _labels(s.labels): s.value
                      for metric in worker.registry.collect() if metric.name.startswith(
                          "mtq_shadow") for s in metric.samples}
            resident = len(worker.models.engines)
        finally:
            _stop(worker, thread)
            arrivals = sink.stop() if sink is not None else None
            if client is not None:
                client.close()
        assert arrivals is not None
    results = {job_id: _result(arrivals.times[job_id], body)
               for job_id, (_headers, body) in zip(arrivals.times, arrivals.hooks, strict=True)}
    return Streamed(first, results, arrivals.duplicates, rss, marks, shadow, resident)


def _labels(labels: dict[str, str]) -> str:
    return "{" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}" if labels else ""


def _result(arrived: float, body: bytes) -> Result:
    event = json.loads(body)
    registry = (event.get("model") or {}).get("registry") or {}
    return Result(arrived, str(event["type"]), registry.get("version"), registry.get("role"),
                  tuple(event.get("translations") or ()))


def _until_consuming(worker: Worker, thread: threading.Thread, amqp_url: str) -> None:
    deadline = time.monotonic() + 300
    while not (worker.is_ready() and consumer_count(amqp_url, job_queue(ROUTE))):
        if not thread.is_alive():
            raise RuntimeError("the worker stopped before consuming")
        if time.monotonic() > deadline:
            raise RuntimeError("the worker did not start consuming in 300 s")
        time.sleep(0.05)


def _stop(worker: Worker, thread: threading.Thread) -> None:
    loop = worker._loop
    if loop is not None and thread.is_alive():
        loop.call_soon_threadsafe(worker.request_stop)
    thread.join(120)
