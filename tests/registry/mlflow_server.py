"""A real MLflow tracking server for the tests: ``mlflow server`` on a free loopback port.

SQLite backend in a temporary folder, artifacts served by the server itself
(``--serve-artifacts``) from a local folder; stopped and removed afterwards.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextmanager
def mlflow_server(folder: Path, start_timeout_s: float = 120) -> Iterator[str]:
    """Run a tracking server with its state under ``folder``; yields its URL."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (folder / "server.log").open("wb")
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1",
        "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination", str(folder / "artifacts"), "--serve-artifacts",
    ]
    env = {**os.environ, "MLFLOW_TRACKING_URI": ""}
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + start_timeout_s
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "mlflow server did not start: "
                    + (folder / "server.log").read_text(errors="replace")[-2000:]
                )
            time.sleep(0.5)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()
