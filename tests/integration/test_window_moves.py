"""The intake window moves during a burst and nothing is redelivered (a real ``mtq worker``).

A backlog of jobs whose sizes change phase by phase (1, 40, 3 segments…) makes the bulk
window grow and shrink many times while deliveries are in flight. A window change must never
look like a crash: every result must carry ``x-mtq-delivery-count`` 0, and the worker's
``mtq_jobs_redelivered_total`` must stay 0 (README "Intake, lanes and tenants",
docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pika
import pytest

from mtq.client.declare import declare_all
from mtq.core.headers import DELIVERY_COUNT_HEADER
from mtq.core.intake_rule import WindowRule
from mtq.core.settings import Settings
from mtq.core.topology import JOBS_EXCHANGE, job_queue
from mtq.tools.tiny_corpus import generated_sentences
from tests.harness import MtqProcess, drain_results, queue_depth, wait_for
from tests.integration.helpers import make_job

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CALLBACK = "https://client.example/hooks/mt"
# (segments per job, jobs), one phase after the other: the window follows the job size
# (MTQ_INTAKE_SEGMENTS=32: 33 jobs for one segment, 9 for four, 2 for forty). The texts repeat
# (translation cache hits), so jobs are answered by the hundred per second: their acks free
# credit all the time, and deliveries are on their way whenever the window changes.
PHASES = [(1, 1500), (4, 800), (1, 1500), (40, 24)] * 4
WINDOW_CHANGE = re.compile(r"intake window: (\d+) -> (\d+) jobs")


def publish_fast(amqp_url: str, jobs: list[dict[str, Any]]) -> None:
    """Publish without waiting for each confirm, then check that every job is in the queue."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        for job in jobs:
            channel.basic_publish(JOBS_EXCHANGE, "en-de", json.dumps(job).encode(),
                                  pika.BasicProperties(delivery_mode=2))
    finally:
        connection.close()
    wait_for(lambda: queue_depth(amqp_url, job_queue("en-de")) == len(jobs), 120,
             f"{len(jobs)} jobs in the queue")


@pytest.mark.timeout(900)
def test_the_window_moves_during_a_burst_without_a_redelivery(
    amqp_url: str, tiny_model_path: Path, tmp_path: Path,
) -> None:
    settings = Settings(amqp_url=amqp_url, routes=("en-de",), intake_segments=32, prefetch=4,
                        prefetch_max=64)
    rule = WindowRule.from_settings(settings)
    assert [rule.window_for(size) for size in (1, 4, 40)] == [33, 9, 2]
    asyncio.run(declare_all(settings))
    texts = list(generated_sentences(64, seed=11))
    jobs = [make_job(f"p{phase}-{n}", [texts[(n + i) % 64] for i in range(size)], CALLBACK,
                     options={"beam_size": 2, "max_new_tokens": 32})
            for phase, (size, count) in enumerate(PHASES) for n in range(count)]
    publish_fast(amqp_url, jobs)

    worker = MtqProcess(["worker"], {
        "MTQ_AMQP_URL": amqp_url, "MTQ_MODEL": str(tiny_model_path), "MTQ_ROUTES": "en-de",
        "MTQ_INTAKE_SEGMENTS": "32", "MTQ_PREFETCH": "4", "MTQ_PREFETCH_MAX": "64",
        "MTQ_BATCH_MAX_WAIT_MS": "5", "MTQ_THREAD_TUNING_S": "0",
    }, tmp_path / "worker.log")
    worker.start()
    try:
        wait_for(lambda: worker.metric('mtq_jobs_total{outcome="completed"}') == len(jobs),
                 780, f"{len(jobs)} jobs completed", interval=1.0)
        redelivered = worker.metric("mtq_jobs_redelivered_total")
        assert worker.stop(60) == 0
    finally:
        worker.kill()

    log = worker.log_text()
    events = drain_results(amqp_url)
    answered = {json.loads(body)["job_id"] for _, body in events}
    assert answered == {job["job_id"] for job in jobs}
    counts = [int(headers.get(DELIVERY_COUNT_HEADER, -1)) for headers, _ in events]
    assert sum(1 for count in counts if count != 0) == 0, sorted(counts)[-10:]
    assert redelivered == 0
    assert "running alone" not in log
    changes = WINDOW_CHANGE.findall(log)
    grew = sum(1 for old, new in changes if int(new) > int(old))
    # How many changes a run sees depends on how the phases meet in the prefetch (a fast run
    # can go from 33 straight past a short phase); what matters is that the window moved both
    # ways, more than once each, with deliveries in flight.
    assert grew >= 2 and len(changes) - grew >= 2, changes
    # Each old consumer was cancelled once full, none left behind.
    assert log.count("retired (") == len(changes)
