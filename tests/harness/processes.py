"""Real ``python -m mtq`` children: start, probe (/readyz, /metrics), signal, stop, restart."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.harness.env import child_env, free_port


@dataclass
class MtqProcess:
    """One ``python -m mtq <command>`` child: its own log file, a fresh metrics port per start."""

    command: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    metrics_port: int = 0
    starts: int = 0
    log_level: str = "INFO"
    module: str = "mtq"  # what ``python -m`` runs (fault tests: tests.faults.fault_worker)

    def start(self) -> None:
        self.metrics_port = free_port()
        env = child_env({**self.env, "MTQ_METRICS_PORT": str(self.metrics_port)})
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts + 1} ---\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, "--log-level", self.log_level, *self.command],
                env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        self.starts += 1

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def http(self, path: str) -> tuple[int, str] | None:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.metrics_port}{path}", timeout=2
            ) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return None

    def ready(self) -> bool:
        answer = self.http("/readyz")
        return answer is not None and answer[0] == 200

    def metric(self, name: str) -> float | None:
        answer = self.http("/metrics")
        if answer is None:
            return None
        for line in answer[1].splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return None

    def send(self, signum: int) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signum)

    def wait(self, timeout: float) -> int | None:
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``."""
        if not self.alive():
            return self.process.returncode if self.process is not None else None
        self.send(signal.SIGTERM)
        code = self.wait(timeout)
        if code is None:
            self.send(signal.SIGKILL)
            code = self.wait(10)
        return code

    def kill(self) -> None:
        """SIGKILL and reap (teardown: no drain wanted)."""
        if self.alive():
            self.send(signal.SIGKILL)
            self.wait(10)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Supervisor:
    """Restarts a process whenever it exits, like a Deployment's pod, until :meth:`close`."""

    def __init__(self, child: MtqProcess) -> None:
        self.child = child
        self.exits: list[int] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="mtq-supervisor")

    def start(self) -> None:
        self.child.start()
        self._thread.start()

    def _loop(self) -> None:
        while not self._closed.is_set():
            code = self.child.wait(0.2)
            if code is None or self._closed.is_set():
                continue
            self.exits.append(code)
            self.child.start()

    def close(self) -> None:
        self._closed.set()
        self._thread.join(5)
        self.child.stop()
