"""End to end: the worker with MTQ_ENGINE=ctranslate2 against the real broker.

Jobs go in through ``mtq.client.submit.publish_all``; the events are read straight from
``mtq.results`` (no dispatcher involved).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from mtq.client.declare import declare_all
from mtq.client.submit import publish_all
from mtq.core.contract import DecodeOptions
from mtq.core.settings import Settings
from mtq.tools.tiny_corpus import generated_sentences
from tests.integration.helpers import drain_results, make_job
from worker.app import Worker
from worker.engines import load_engine
from worker.engines.ct2 import CTranslate2Engine
from worker.lifecycle.admission import job_limits

pytestmark = pytest.mark.integration
CALLBACK = "https://client.example/hooks/mt"
MAX_NEW_TOKENS = 10  # below every batch's length cap: a segment's output is batch-independent


def read_results(amqp_url: str) -> dict[str, dict[str, Any]]:
    events = [json.loads(body) for _, body in drain_results(amqp_url)]
    return {event["job_id"]: event for event in events}


def job(job_id: str, segments: list[str], beam_size: int) -> dict[str, Any]:
    options = {"beam_size": beam_size, "max_new_tokens": MAX_NEW_TOKENS}
    return make_job(job_id, segments, CALLBACK, options=options)


def test_worker_with_ctranslate2_engine_completes_aligned_jobs(
    amqp_url: str, ct2_model_path: Path
) -> None:
    settings = Settings(
        amqp_url=amqp_url, model=str(ct2_model_path), engine="ctranslate2", device="cpu",
        compute_type="float32", inter_threads=2, intra_threads=1, routes=("en-de",),
        metrics_port=0, batch_max_wait_ms=5, max_batch_segments=16, drain_timeout_s=30,
    )
    engine = load_engine(settings)
    assert isinstance(engine, CTranslate2Engine)
    sentences = list(generated_sentences(60, seed=99))
    jobs = [
        job("ct2-small", sentences[:3], beam_size=2),
        job("ct2-large", [*sentences[3:43], "", "  "], beam_size=2),
        job("ct2-beam4", sentences[43:60], beam_size=4),
    ]
    asyncio.run(declare_all(settings))
    publish_all(jobs, amqp_url, job_limits(settings))

    code = asyncio.run(
        asyncio.wait_for(Worker(settings, engine).run(burst=True, health=False), timeout=240)
    )

    assert code == 0
    events = read_results(amqp_url)
    assert set(events) == {j["job_id"] for j in jobs}
    for sent in jobs:
        event = events[sent["job_id"]]
        assert event["type"] == "job.completed", event
        assert event["model"]["engine"] == "ctranslate2"
        assert event["model"]["compute_type"] == "float32"
        assert event["model"]["name"] == ct2_model_path.name
        assert event["metadata"] == sent["metadata"]
        segments = sent["segments"]
        translations = event["translations"]
        assert len(translations) == len(segments)
        # Alignment: each translation is what the engine gives for that segment on its own.
        options = DecodeOptions(sent["options"]["beam_size"], MAX_NEW_TOKENS)
        for segment, translation in zip(segments, translations, strict=True):
            if not segment.strip():
                assert translation == ""
                continue
            alone = engine.decode(engine.generate(engine.encode([segment]), options))[0]
            assert translation == alone
