"""One real stack for the gateway tests: a vhost, a PostgreSQL schema, a worker on the tiny model
(no cache, so every translation is computed) and ``mtq gateway``, plus a key per tenant."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gateway.keys import create_key
from mtq.client.declare import declare_all
from mtq.core.settings import Settings
from tests.harness import MtqProcess, amqp_url_for, create_vhost, delete_vhost, free_port, wait_for

DATABASE_URL = os.environ.get("MTQ_TEST_DATABASE_URL",
                              "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass
class Stack:
    amqp_url: str
    base_url: str
    schema: str
    glossary_schema: str
    keys: dict[str, str]  # tenant -> key
    worker: MtqProcess
    gateway: MtqProcess

    def request(self, method: str, path: str, body: Any = None, *, key: str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        data = None if body is None else json.dumps(body).encode()
        sent = {"Content-Type": "application/json", **(headers or {})}
        if key is not None:
            sent["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(self.base_url + path, data=data, method=method,
                                         headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null"), dict(
                    response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null"), dict(exc.headers)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.base_url + "/readyz", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def wait_status(self, job_id: str, key: str, statuses: tuple[str, ...],
                    timeout: float = 60) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            status, body, _ = self.request("GET", f"/v1/jobs/{job_id}", key=key)
            return body if status == 200 and body["status"] in statuses else None

        found: dict[str, Any] = wait_for(reached, timeout, f"job {job_id} {statuses}")
        return found

    def restart_gateway(self) -> None:
        assert self.gateway.stop(30) == 0, self.gateway.log_text()[-3000:]
        self.gateway.start()
        wait_for(self.ready, 60, "the gateway ready again")


@pytest.fixture(scope="session")
def stack(tiny_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    vhost = f"mtq-test-gateway-{uuid.uuid4().hex[:8]}"
    schema = f"mtq_gateway_test_{uuid.uuid4().hex[:10]}"
    glossaries = f"{schema}_terms"
    create_vhost(vhost)
    amqp_url = amqp_url_for(vhost)
    logs = tmp_path_factory.mktemp("gateway-stack")
    # en-fr has queues but no worker: its jobs stay queued (cancel, timeout and overload tests).
    asyncio.run(declare_all(Settings(amqp_url=amqp_url, routes=("en-de", "en-fr"))))
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        keys = {tenant: create_key(conn, schema, tenant) for tenant in ("acme", "globex")}
    port = free_port()
    common = {"MTQ_AMQP_URL": amqp_url, "MTQ_ROUTES": "en-de", "MTQ_THREAD_TUNING_S": "0"}
    worker = MtqProcess(["worker"], {**common, "MTQ_MODEL": str(tiny_model_path),
                                     "MTQ_CACHE": "off", "MTQ_BATCH_MAX_WAIT_MS": "5",
                                     # Small batches: a long job spans several, so a cancel
                                     # finds segments not yet in one.
                                     "MTQ_MAX_BATCH_SEGMENTS": "8",
                                     "MTQ_DATABASE_URL": DATABASE_URL,
                                     "MTQ_GLOSSARY_SCHEMA": glossaries},
                        logs / "worker.log")
    gateway = MtqProcess(["gateway"], {
        **common, "MTQ_ROUTES": "en-de en-fr", "MTQ_DATABASE_URL": DATABASE_URL,
        "MTQ_GATEWAY_DB_SCHEMA": schema,
        "MTQ_GATEWAY_PORT": str(port), "MTQ_GATEWAY_HOST": "127.0.0.1",
        "MTQ_GATEWAY_RATE_PER_S": "1000", "MTQ_GATEWAY_BURST": "1000"}, logs / "gateway.log")
    found = Stack(amqp_url, f"http://127.0.0.1:{port}", schema, glossaries, keys, worker,
                  gateway)
    try:
        worker.start()
        gateway.start()
        wait_for(worker.ready, 120, "the worker ready")
        wait_for(found.ready, 60, "the gateway ready")
        yield found
    finally:
        gateway.kill()
        worker.kill()
        with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.execute(f"DROP SCHEMA IF EXISTS {glossaries} CASCADE")
        delete_vhost(vhost)
