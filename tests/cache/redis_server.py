"""Redis for the cache tests: the machine's (a database of its own per test) or a private one.

A test that stops Redis mid-run never touches the machine's server: it starts its own
``redis-server`` on a free port, kills it, and starts it again on the same port.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import redis

from tests.harness import free_port, wait_until

MACHINE_HOST, MACHINE_PORT = "127.0.0.1", 6379
TEST_DATABASES = range(8, 16)  # the machine's Redis: one of these per test, flushed around it


def answers(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


class RedisServer:
    """A private ``redis-server`` (no persistence) that a test may kill and restart."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.workdir = workdir
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        with (self.workdir / f"redis-{self.port}.log").open("ab") as log:  # the child keeps it
            self.process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(self.workdir)],
                stdout=log, stderr=subprocess.STDOUT,
            )
        client = redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            assert wait_until(lambda: _pings(client), 30), "private redis-server did not start"
        finally:
            client.close()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=30)
            self.process = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@contextlib.contextmanager
def redis_database(workdir: Path, index: int) -> Iterator[str]:
    """A Redis URL with an empty database, flushed again afterwards.

    The machine's Redis when it answers (database 8–15, chosen by ``index``); otherwise a
    private server for this test alone.
    """
    if answers(MACHINE_PORT, MACHINE_HOST):
        db = TEST_DATABASES[index % len(TEST_DATABASES)]
        client = redis.Redis(host=MACHINE_HOST, port=MACHINE_PORT, db=db)
        try:
            client.flushdb()
            yield f"redis://{MACHINE_HOST}:{MACHINE_PORT}/{db}"
        finally:
            client.flushdb()
            client.close()
        return
    with RedisServer(workdir) as server:
        yield server.url()
