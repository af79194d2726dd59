"""/healthz, /readyz and /metrics of a running worker, over real HTTP."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from mtq.client.declare import declare_all
from mtq.core.settings import Settings
from tests.harness import free_port
from tests.integration.helpers import make_job, publish_jobs
from worker.app import Worker
from worker.engines.hf import HFEngine

pytestmark = pytest.mark.integration


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except urllib.error.URLError:  # not listening yet
        return 0, b""


def test_probes_and_metrics_of_a_consuming_worker(amqp_url: str, tiny_model_path: Path) -> None:
    port = free_port()
    settings = Settings(amqp_url=amqp_url, model=str(tiny_model_path), metrics_port=port,
                        batch_max_wait_ms=5)
    asyncio.run(declare_all(settings))
    engine = HFEngine(settings)

    async def scenario() -> None:
        worker = Worker(settings, engine)
        task = asyncio.create_task(worker.run())
        for _ in range(200):
            status, body = await asyncio.to_thread(_get, port, "/readyz")
            if status == 200:
                break
            await asyncio.sleep(0.05)
        assert status == 200, body
        assert json.loads(body)["checks"] == {"consuming": True}
        assert (await asyncio.to_thread(_get, port, "/healthz"))[0] == 200
        await asyncio.to_thread(
            publish_jobs, amqp_url,
            # Distinct texts: identical ones would be computed once (in-flight dedup, cache).
            [make_job(f"m{i}", [f"Hello world {i}.", f"Second one {i}."], "https://c.example/h")
             for i in range(3)],
        )
        for _ in range(400):
            _, metrics = await asyncio.to_thread(_get, port, "/metrics")
            if b'mtq_jobs_total{outcome="completed"} 3.0' in metrics:
                break
            await asyncio.sleep(0.05)
        text = metrics.decode()
        assert 'mtq_jobs_total{outcome="completed"} 3.0' in text
        assert "mtq_segments_total 6.0" in text
        for name in ("mtq_batch_segments_bucket", "mtq_batch_padding_ratio_bucket",
                     "mtq_inference_seconds_bucket", "mtq_queue_wait_seconds_bucket"):
            assert name in text
        worker.request_stop()
        assert await asyncio.wait_for(task, 60) == 0

    asyncio.run(scenario())
    with pytest.raises(OSError):  # the server is gone with the worker
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
