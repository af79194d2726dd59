"""A real worker on the real broker gathers the results a batch finishes into few messages
(``MTQ_RESULTS_PER_MESSAGE``), and every job's event is in them exactly once."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from mtq.client.declare import declare_all
from mtq.core import result_batch
from mtq.core.topology import RESULTS_QUEUE
from mtq.tools.tiny_corpus import generated_sentences
from tests.integration.helpers import drain_queue, make_job, publish_jobs, worker_settings
from worker.app import Worker
from worker.engines.hf import HFEngine

pytestmark = pytest.mark.integration
JOBS = 12


@pytest.mark.parametrize("per_message", [1, 5, 64])
def test_results_finished_together_share_messages_of_at_most_the_setting(
    amqp_url: str, tiny_model_path: Path, per_message: int
) -> None:
    # One batch holds every job (no padding bound): they finish in one turn of the loop.
    settings = worker_settings(amqp_url, tiny_model_path, results_per_message=per_message,
                               max_batch_segments=JOBS, batch_max_wait_ms=2000,
                               batch_max_padding=1.0)
    asyncio.run(declare_all(settings))
    sentences = list(generated_sentences(JOBS, seed=8))
    publish_jobs(amqp_url, [make_job(f"j-{n}", [sentences[n]], "https://client.example/mt")
                            for n in range(JOBS)])

    worker = Worker(settings, HFEngine(settings))
    assert asyncio.run(worker.run(burst=True, health=False)) == 0

    messages = drain_queue(amqp_url, RESULTS_QUEUE)
    sizes = [len(result_batch.events(h, b)) for h, b in messages]
    assert max(sizes) <= per_message
    if per_message == 1:
        assert len(messages) == JOBS
    else:  # gathered: as few messages as the bound allows
        assert len(messages) == -(-JOBS // per_message)
    events = [json.loads(body) for headers, message_body in messages
              for _, body in result_batch.events(headers, message_body)]
    assert sorted(e["job_id"] for e in events) == sorted(f"j-{n}" for n in range(JOBS))
    assert {e["type"] for e in events} == {"job.completed"}
    # The worker's histogram saw the same messages and events.
    sample = worker.registry.get_sample_value
    assert sample("mtq_result_events_per_message_count") == len(messages)
    assert sample("mtq_result_events_per_message_sum") == JOBS
