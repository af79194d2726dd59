"""Environment of test and bench children, secrets, ports and condition waits."""

from __future__ import annotations

import base64
import os
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

AMQP_HOST = os.environ.get("MTQ_TEST_AMQP_HOST", "127.0.0.1")
ROUTE = "en-de"
TEST_SECRET = "whsec_" + base64.b64encode(b"mtq-test-secret-0123456789abcdef").decode()


def new_secret() -> str:
    """A fresh Standard Webhooks secret (``whsec_`` + base64 of 32 random bytes)."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def child_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment plus ``extra``, one torch thread unless told otherwise."""
    env = {**os.environ, **extra}
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def mtq_env(amqp_url: str, model: Path | str, receiver_port: int, secret: str,
            **extra: str) -> dict[str, str]:
    """Settings of workers and dispatchers of one vhost, allowed to call the loopback receiver."""
    return {
        "MTQ_AMQP_URL": amqp_url,
        "MTQ_MODEL": str(model),
        "MTQ_ROUTES": ROUTE,
        "MTQ_WEBHOOK_SECRET": secret,
        "MTQ_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32",
        "MTQ_WEBHOOK_ALLOW_PORTS": f"80 443 {receiver_port}",
        "MTQ_BATCH_MAX_WAIT_MS": "5",
        **extra,
    }


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    """The first truthy value of ``predicate`` within ``timeout`` seconds, else ``None``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str,
             interval: float = 0.1) -> Any:
    """Like :func:`wait_until`, but an ``AssertionError`` naming ``what`` on timeout."""
    value = wait_until(predicate, timeout, interval)
    assert value, f"timed out after {timeout:.0f}s waiting for {what}"
    return value
