"""Metrics ports: a worker and a dispatcher with no settings share a host; a taken port is one
clear line naming MTQ_METRICS_PORT."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mtq.core.health import DISPATCHER_METRICS_PORT, WORKER_METRICS_PORT
from tests.harness import new_secret, wait_for

pytestmark = pytest.mark.integration


def _env(amqp_url: str, model: Path, **extra: str) -> dict[str, str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("MTQ_")}
    return {**clean, "OMP_NUM_THREADS": "1", "MTQ_AMQP_URL": amqp_url, "MTQ_MODEL": str(model),
            "MTQ_WEBHOOK_SECRET": new_secret(), **extra}


@contextmanager
def _child(command: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        child = subprocess.Popen([sys.executable, "-m", "mtq", command], env=env, stdout=out,
                                 stderr=subprocess.STDOUT)
    try:
        yield child
    finally:
        child.terminate()
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(10)


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def test_worker_and_dispatcher_side_by_side_with_no_settings(
    amqp_url: str, tiny_model_path: Path, tmp_path: Path
) -> None:
    busy = [port for port in (WORKER_METRICS_PORT, DISPATCHER_METRICS_PORT)
            if not _port_free(port)]
    if busy:
        pytest.skip(f"port(s) {busy} already taken on this host by something else")
    env = _env(amqp_url, tiny_model_path)
    with _child("worker", env, tmp_path / "worker.log") as worker, \
            _child("dispatcher", env, tmp_path / "dispatcher.log") as dispatcher:
        wait_for(lambda: _healthy(WORKER_METRICS_PORT) and _healthy(DISPATCHER_METRICS_PORT),
                 120, "both /healthz to answer")
        assert worker.poll() is None and dispatcher.poll() is None


def test_worker_metrics_port_in_use_is_one_line(
    amqp_url: str, tiny_model_path: Path, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "mtq", "--log-level", "WARNING", "worker"],
            env=_env(amqp_url, tiny_model_path, MTQ_METRICS_PORT=str(port)),
            capture_output=True, text=True, timeout=180, check=False,
        )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"mtq: configuration error: MTQ_METRICS_PORT={port}: cannot serve metrics and probes "
        f"on port {port} (address already in use); set MTQ_METRICS_PORT to a free port, or 0 "
        "to turn them off"
    )
    assert "Traceback" not in result.stderr
