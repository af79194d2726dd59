"""Shared fixtures: a private RabbitMQ vhost per test, a real loopback webhook receiver."""

from __future__ import annotations

import base64
import http.server
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

AMQP_HOST = os.environ.get("MTQ_TEST_AMQP_HOST", "127.0.0.1")
TEST_SECRET = "whsec_" + base64.b64encode(b"mtq-test-secret-0123456789abcdef").decode()


def rabbitmqctl(*args: str, attempts: int = 3) -> str:
    """Run rabbitmqctl, retrying: under load its CLI node sometimes fails to start in time."""
    error = ""
    for attempt in range(attempts):
        result = subprocess.run(
            ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=90, check=False
        )
        if result.returncode == 0:
            return result.stdout
        error = result.stderr.strip()
        time.sleep(1 + attempt)
    raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {error}")


def _management(method: str, path: str, body: dict[str, Any] | None = None) -> bool:
    """Call the management API; False when it is not there (then rabbitmqctl is used)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"http://{AMQP_HOST}:15672/api/{path}", data=data, method=method,
        headers={"content-type": "application/json",
                 "authorization": "Basic " + base64.b64encode(b"guest:guest").decode()},
    )
    try:
        with urllib.request.urlopen(request, timeout=30):
            return True
    except (urllib.error.URLError, OSError):
        return False


def create_vhost(name: str) -> None:
    quoted = quote(name, safe="")
    if _management("PUT", f"vhosts/{quoted}", {}) and _management(
        "PUT", f"permissions/{quoted}/guest", {"configure": ".*", "write": ".*", "read": ".*"}
    ):
        return
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("neither the management API nor rabbitmqctl is available")
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")


def delete_vhost(name: str) -> None:
    if not _management("DELETE", f"vhosts/{quote(name, safe='')}"):
        rabbitmqctl("delete_vhost", name)


@pytest.fixture
def amqp_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh vhost named after the test, deleted afterwards with everything in it."""
    name = f"mtq-test-{request.node.name[:40]}-{uuid.uuid4().hex[:8]}"
    create_vhost(name)
    try:
        yield f"amqp://guest:guest@{AMQP_HOST}:5672/{quote(name, safe='')}"
    finally:
        delete_vhost(name)


@dataclass
class ReceivedHook:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """A real HTTP server on loopback that records every POST and answers with ``status``."""

    server: http.server.ThreadingHTTPServer
    received: list[ReceivedHook] = field(default_factory=list)
    status: int = 200
    responder: Callable[[ReceivedHook], tuple[int, dict[str, str], bytes]] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks"

    def wait_for(self, count: int, timeout: float = 60.0) -> list[ReceivedHook]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        with self.lock:
            raise AssertionError(f"expected {count} webhooks, got {len(self.received)}")


def _make_handler(receiver_ref: list[WebhookReceiver]) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver = receiver_ref[0]
            length = int(self.headers.get("Content-Length", "0"))
            hook = ReceivedHook(
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length),
            )
            status, headers, body = (receiver.status, {}, b"ok")
            if receiver.responder is not None:
                status, headers, body = receiver.responder(hook)
            if 200 <= status < 300:
                with receiver.lock:
                    receiver.received.append(hook)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    ref: list[WebhookReceiver] = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(ref))
    receiver = WebhookReceiver(server=server)
    ref.append(receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model, built once per test session (or taken from MTQ_TEST_TINY_MODEL)."""
    from mtq.tiny_model import build_tiny_model

    preset = os.environ.get("MTQ_TEST_TINY_MODEL")
    if preset and (Path(preset) / "config.json").exists():
        return Path(preset)
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))
