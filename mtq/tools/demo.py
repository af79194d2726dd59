"""``mtq demo``: the whole pipeline on this machine, ending with a verified signed webhook.

Builds the tiny model if needed, declares the topology, starts a worker and a dispatcher as
child processes, starts a loopback webhook receiver, submits one job and prints the signed
``job.completed`` event the receiver got, after verifying its signature.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import queue
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from mtq.client.broker import connect_blocking
from mtq.core.errors import MtqError
from mtq.core.settings import Settings

SAMPLE_SEGMENTS = [
    "Hello world.",
    "Queue-based batch translation keeps the GPU busy.",
    "Every job ends in a signed webhook.",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _check_broker(amqp_url: str) -> None:
    connect_blocking(amqp_url, "mtq-demo").close()


class _Receiver(http.server.BaseHTTPRequestHandler):
    inbox: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.inbox.put(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def run(settings: Settings, model_dir: Path, timeout_s: float = 300.0) -> int:
    from standardwebhooks import Webhook

    from mtq.client.submit import publish_all
    from mtq.core.contract import JobLimits
    from mtq.tools.tiny_model import MEANINGLESS_NOTICE, build_tiny_model

    _check_broker(settings.amqp_url)
    if not (model_dir / "config.json").exists():
        print(f"building the tiny model in {model_dir} ...", flush=True)
        build_tiny_model(model_dir)
    secret = (
        settings.webhook_secret[0]
        if settings.webhook_secret
        else "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        **os.environ,
        "MTQ_AMQP_URL": settings.amqp_url,
        "MTQ_MODEL": str(model_dir.resolve()),
        "MTQ_ROUTES": "en-de",
        "MTQ_WEBHOOK_SECRET": secret,
        "MTQ_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32",
        "MTQ_WEBHOOK_ALLOW_PORTS": f"80 443 {port}",
    }
    mtq = [sys.executable, "-m", "mtq", "--log-level", "WARNING"]
    subprocess.run([*mtq, "topology", "--routes", "en-de"], env=env, check=True)
    children = [
        subprocess.Popen([*mtq, command], env={**env, "MTQ_METRICS_PORT": str(_free_port())})
        for command in ("worker", "dispatcher")
    ]
    job_id = f"demo-{int(time.time())}"
    job = {
        "job_id": job_id,
        "source_lang": "en",
        "target_lang": "de",
        "segments": SAMPLE_SEGMENTS,
        "callback_url": f"http://127.0.0.1:{port}/hooks/mt",
        "options": {"beam_size": 4, "max_new_tokens": 24},
        "metadata": {"demo": True},
    }
    try:
        publish_all([job], settings.amqp_url, JobLimits.from_settings(settings))
        print(f"submitted job {job_id}; waiting for its webhook ...", flush=True)
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MtqError("no webhook arrived in time; see the worker's output above")
            if any(child.poll() is not None for child in children):
                raise MtqError("the worker or dispatcher exited early; see its output above")
            try:
                headers, body = _Receiver.inbox.get(timeout=min(1.0, remaining))
            except queue.Empty:
                continue
            event = json.loads(body)
            if event.get("job_id") == job_id:
                break
        Webhook(secret).verify(body, headers)
        print("\nwebhook received and its signature verified with the standardwebhooks library")
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
            print(f"  {name}: {headers.get(name)}")
        print(json.dumps(event, indent=2, ensure_ascii=False))
        print(f"\nNOTE: {MEANINGLESS_NOTICE}")
        return 0
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
        server.shutdown()
