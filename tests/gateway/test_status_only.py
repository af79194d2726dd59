"""Jobs submitted without ``callback_url`` carry the status-only callback: the dispatcher acks
their events without a POST, and still delivers everyone else's."""

from __future__ import annotations

import json

import pytest

from mtq.core.callback_policy import STATUS_ONLY_CALLBACK
from mtq.core.contract import JobLimits, parse_job
from mtq.core.events import CompletedEvent, JobStats, ModelInfo, encode_result
from mtq.core.topology import RESULTS_QUEUE
from tests.webhooks.whtest import broker, endpoint, metric, settings_for
from webhooks.dispatcher import run_dispatcher
from webhooks.metrics import DispatcherMetrics

pytestmark = pytest.mark.integration


def completed(job_id: str, callback_url: str) -> tuple[dict[str, str], bytes]:
    job = parse_job(json.dumps({"job_id": job_id, "source_lang": "en", "target_lang": "de",
                                "segments": ["a"], "callback_url": callback_url}).encode(),
                    JobLimits())
    event = CompletedEvent(job, ("x",), ModelInfo("m", "r"), JobStats(1, 0, 0), (0.5,))
    outgoing = encode_result(event, callback_url)
    return outgoing.headers, outgoing.body


async def test_the_dispatcher_posts_nothing_for_status_only_jobs(amqp_url: str) -> None:
    with endpoint() as server:
        settings = settings_for(amqp_url, server.port)
        metrics = DispatcherMetrics()
        async with broker(amqp_url) as b:
            await b.publish_raw(*completed("via-gateway", STATUS_ONLY_CALLBACK))
            await b.publish_raw(*completed("with-webhook", server.url))
            assert await run_dispatcher(settings, burst=True, handle_signals=False,
                                        metrics=metrics) == 0
            assert await b.count(RESULTS_QUEUE) == 0
        assert [json.loads(r.body)["job_id"] for r in server.delivered()] == ["with-webhook"]
        assert metric(metrics, "mtq_webhook_skipped_total") == 1
