"""End to end: publish → worker → mtq.results → dispatcher → signed POST on loopback, with
confidence and guard warnings in every completed event."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from mtq.client.declare import declare_all
from mtq.core.settings import Settings
from tests.harness import TEST_SECRET, LoopbackReceiver
from tests.integration.helpers import make_job, publish_jobs
from webhooks.dispatcher import run_dispatcher
from worker.app import Worker
from worker.engines.hf import HFEngine

pytestmark = pytest.mark.integration

TEXTS = ["The weather is nice today.", "Please restart the application now."]


def test_completed_webhooks_carry_confidence_and_guard_warnings(
    amqp_url: str, tiny_model_path: Path, webhook_receiver: LoopbackReceiver
) -> None:
    port = webhook_receiver.port
    settings = Settings(
        amqp_url=amqp_url, model=str(tiny_model_path), routes=("en-de",), metrics_port=0,
        batch_max_wait_ms=5, webhook_secret=(TEST_SECRET,), torch_threads=1,
        webhook_allow_networks=("127.0.0.0/8",), webhook_allow_ports=(port,),
        webhook_retry_schedule_s=(1, 2),
    )
    asyncio.run(declare_all(settings))
    url = webhook_receiver.url
    jobs = [
        make_job("plain", TEXTS, url),  # the random model loops up to the 8-token cap
        make_job("blank", ["", "  "], url),
        make_job("strict", TEXTS, url,
                 options={"beam_size": 2, "max_new_tokens": 8, "min_confidence": 0.9}),
        make_job("bad-min", TEXTS, url, options={"min_confidence": 2}),
        make_job("bad-mode", TEXTS, url, options={"on_suspect": "drop"}),
    ]
    publish_jobs(amqp_url, jobs)
    worker = Worker(settings, HFEngine(settings))

    async def scenario() -> None:
        stop = asyncio.Event()
        dispatcher = asyncio.create_task(
            run_dispatcher(settings, stop=stop, handle_signals=False)
        )
        await worker.run(burst=True, health=False)
        await asyncio.to_thread(webhook_receiver.wait_for, len(jobs), 120)
        stop.set()
        assert await asyncio.wait_for(dispatcher, 60) == 0

    asyncio.run(scenario())
    verifier = Webhook(TEST_SECRET)
    events: dict[str, dict[str, Any]] = {}
    for hook in webhook_receiver.received:
        event = verifier.verify(hook.body, hook.headers)
        events[event["job_id"]] = event
    plain, blank, strict = events["plain"], events["blank"], events["strict"]
    for event in (plain, blank, strict):
        assert event["type"] == "job.completed"
        assert len(event["confidence"]) == len(event["translations"])
        assert all(0.0 <= c <= 1.0 for c in event["confidence"])
    assert all(c < 0.5 for c in plain["confidence"])  # random weights: unsure of everything
    assert {(w["segment"], w["code"]) for w in plain["warnings"]} >= {
        (0, "truncated"), (1, "truncated")}
    assert all(set(w) == {"segment", "code", "message"} for w in plain["warnings"])
    assert blank["confidence"] == [1.0, 1.0] and blank["warnings"] == []
    low = [w for w in strict["warnings"] if w["code"] == "low_confidence"]
    assert [w["segment"] for w in low] == [0, 1]
    assert "below options.min_confidence 0.9" in low[0]["message"]
    # The same segments, decoded once (in-flight dedup or the cache): the same values.
    assert strict["confidence"] == plain["confidence"]
    for name, field in (("bad-min", "options.min_confidence"), ("bad-mode", "options.on_suspect")):
        failed = events[name]
        assert failed["type"] == "job.failed" and failed["error"]["code"] == "invalid_job"
        assert failed["error"]["message"].startswith(field)
    sample = worker.registry.get_sample_value
    assert sample("mtq_segment_confidence_count", {"route": "en-de"}) == 4  # blanks not counted
    assert sample("mtq_guard_warnings_total", {"route": "en-de", "code": "low_confidence"}) == 2
    assert sample("mtq_guard_warnings_total", {"route": "en-de", "code": "truncated"}) == 4
