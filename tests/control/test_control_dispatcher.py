"""The dispatcher and progress events: delivered when the job asked (each its own webhook-id),
acked without a POST when marked ``x-mtq-deliver: false``, alone or inside a batch message."""

from __future__ import annotations

import json

import pytest
from standardwebhooks import Webhook

from mtq.core import result_batch
from mtq.core.contract import JobLimits, parse_job
from mtq.core.events import ProgressEvent, encode_result
from mtq.core.topology import RESULTS_QUEUE
from tests.webhooks.whtest import SECRET, broker, endpoint, metric, settings_for
from webhooks.dispatcher import run_dispatcher
from webhooks.metrics import DispatcherMetrics

pytestmark = pytest.mark.integration


def progress(job_id: str, done: int, callback_url: str, *, wanted: bool) -> tuple[dict[str, str],
                                                                                 bytes]:
    job = parse_job(json.dumps({
        "job_id": job_id, "source_lang": "en", "target_lang": "de", "segments": ["a"] * 10,
        "callback_url": callback_url, "options": {"progress": wanted},
    }).encode(), JobLimits())
    outgoing = encode_result(ProgressEvent(job, done), callback_url)
    return outgoing.headers, outgoing.body


async def test_progress_is_posted_only_when_the_job_asked(amqp_url: str) -> None:
    with endpoint() as server:
        settings = settings_for(amqp_url, server.port)
        metrics = DispatcherMetrics()
        async with broker(amqp_url) as b:
            for done in (3, 6):
                await b.publish_raw(*progress("loud", done, server.url, wanted=True))
            await b.publish_raw(*progress("quiet", 3, server.url, wanted=False))
            await b.publish_raw(*result_batch.pack([  # one of each, in one message
                progress("loud", 8, server.url, wanted=True),
                progress("quiet", 6, server.url, wanted=False),
            ]))
            assert await run_dispatcher(settings, burst=True, handle_signals=False,
                                        metrics=metrics) == 0
            assert await b.count(RESULTS_QUEUE) == 0
        delivered = [Webhook(SECRET).verify(r.body, r.headers) for r in server.delivered()]
        assert sorted((e["job_id"], e["done"]) for e in delivered) == [
            ("loud", 3), ("loud", 6), ("loud", 8)]
        assert len({r.headers["webhook-id"] for r in server.delivered()}) == 3
        assert metric(metrics, "mtq_webhook_skipped_total") == 2
