"""The HTTP gateway's numbers: one-segment ``/v2/translate`` latency idle and behind a bulk
backlog, 200 concurrent one-segment requests sharing batches, and the gateway's CPU per request.

``python -m bench.gateway [--model PATH]``: a private vhost and PostgreSQL schema, one worker
and one gateway as real processes; prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import requests

from gateway.keys import create_key
from mtq.client.declare import declare_all
from mtq.core.settings import Settings
from tests.harness import (
    MtqProcess,
    amqp_url_for,
    create_vhost,
    delete_vhost,
    free_port,
    publish_raw,
    wait_for,
)

DATABASE_URL = os.environ.get("MTQ_TEST_DATABASE_URL",
                              "postgresql://postgres@127.0.0.1:5432/postgres")


def percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=20)
    return {"p50_ms": round(statistics.median(samples) * 1000, 1),
            "p95_ms": round(cuts[18] * 1000, 1), "n": len(samples)}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(model: str, log_dir: Path) -> dict[str, Any]:
    vhost, schema = f"mtq-bench-gw-{uuid.uuid4().hex[:8]}", f"mtq_bench_gw_{uuid.uuid4().hex[:8]}"
    create_vhost(vhost)
    amqp_url = amqp_url_for(vhost)
    asyncio.run(declare_all(Settings(amqp_url=amqp_url, routes=("en-de",))))
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        key = create_key(conn, schema, "bench")
    port = free_port()
    common = {"MTQ_AMQP_URL": amqp_url, "MTQ_ROUTES": "en-de", "MTQ_THREAD_TUNING_S": "0"}
    worker = MtqProcess(["worker"], {**common, "MTQ_MODEL": model, "MTQ_CACHE": "off"},
                        log_dir / "worker.log")
    gateway = MtqProcess(["gateway"], {**common, "MTQ_DATABASE_URL": DATABASE_URL,
                                       "MTQ_GATEWAY_DB_SCHEMA": schema,
                                       "MTQ_GATEWAY_PORT": str(port),
                                       "MTQ_GATEWAY_RATE_PER_S": "100000",
                                       "MTQ_GATEWAY_BURST": "100000",
                                       "MTQ_GATEWAY_SYNC_TIMEOUT_S": "120"},
                         log_dir / "gateway.log")
    url = f"http://127.0.0.1:{port}/v2/translate"
    session = requests.Session()
    session.headers["Authorization"] = f"DeepL-Auth-Key {key}"

    def one(n: int) -> float:
        started = time.perf_counter()
        answer = session.post(url, json={"text": [f"Sentence {n}."], "source_lang": "EN",
                                         "target_lang": "DE"}, timeout=120)
        answer.raise_for_status()
        return time.perf_counter() - started

    try:
        worker.start()
        gateway.start()
        wait_for(worker.ready, 180, "the worker")
        wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).ok
                 if gateway.alive() else False, 60, "the gateway")
        one(0)  # warm up
        idle = percentiles([one(n) for n in range(30)])
        bulk = [json.dumps({"job_id": f"bulk-{n}", "source_lang": "en", "target_lang": "de",
                            "segments": [f"Bulk sentence {n}.{i}" for i in range(32)],
                            "callback_url": "https://client.example/hooks"}).encode()
                for n in range(40)]
        publish_raw(amqp_url, bulk)
        backlog = percentiles([one(n) for n in range(30)])
        batches = (worker.metric("mtq_batch_segments_count") or 0,
                   worker.metric("mtq_batch_segments_sum") or 0)
        cpu = cpu_seconds(gateway.pid)
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(200) as pool:
            burst = list(pool.map(one, range(200)))
        wall = time.perf_counter() - started
        cpu = cpu_seconds(gateway.pid) - cpu
        count = (worker.metric("mtq_batch_segments_count") or 0) - batches[0]
        segments = (worker.metric("mtq_batch_segments_sum") or 0) - batches[1]
        return {"idle_one_segment": idle, "during_bulk_backlog": backlog,
                "concurrent_200": {**percentiles(burst), "wall_s": round(wall, 2),
                                   "batches": int(count),
                                   "mean_batch_segments": round(segments / max(count, 1), 1),
                                   "gateway_cpu_ms_per_request": round(cpu / 200 * 1000, 2)}}
    finally:
        gateway.kill()
        worker.kill()
        with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        delete_vhost(vhost)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway")
    parser.add_argument("--model", default=os.environ.get("MTQ_TEST_TINY_MODEL", ""))
    parser.add_argument("--logs", default="/tmp/mtq-bench-gateway")
    args = parser.parse_args()
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    print(json.dumps(run(args.model, logs), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
