"""The client side of the end-to-end run, in its own process (as a real client would be).

Kept free of torch imports: ``multiprocessing`` re-imports this module in the child.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue as queue_module
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any


def publish_jobs(
    amqp_url: str, jobs: list[dict[str, Any]], ready: Event, go: Event,
    out: Queue[tuple[str, float, float]], pace: float = 0.0,
) -> None:
    """Connect, say ready, wait for go, then validate and publish every job with confirms;
    with ``pace`` (jobs per second) job ``n`` is published no earlier than ``n / pace`` s
    after the first.

    Puts ``("ok", first_publish, last_confirm)`` in ``out`` (``time.monotonic``, which is
    CLOCK_MONOTONIC on Linux and so comparable across processes), or ``("error", ...)``.
    """
    from mtq.client.submit import JobPublisher, validate
    from mtq.core.contract import JobLimits

    try:
        limits = JobLimits()
        with JobPublisher(amqp_url) as publisher:
            ready.set()
            go.wait()
            first = time.monotonic()
            for number, job in enumerate(jobs):
                validate(job, limits)
                if pace and (wait := first + number / pace - time.monotonic()) > 0:
                    time.sleep(wait)
                publisher.publish(job)
            out.put(("ok", first, time.monotonic()))
    except Exception as exc:
        ready.set()
        out.put((f"error: {type(exc).__name__}: {exc}", 0.0, 0.0))


class PublisherProcess:
    """The parent's handle on a :func:`publish_jobs` child: connect, go, then its answer."""

    def __init__(self, amqp_url: str, jobs: list[dict[str, Any]], pace: float = 0.0) -> None:
        context = multiprocessing.get_context("spawn")
        self._ready, self._go = context.Event(), context.Event()
        self._out: Any = context.Queue()
        self.status: tuple[str, float, float] | None = None
        self.process = context.Process(
            target=publish_jobs,
            args=(amqp_url, jobs, self._ready, self._go, self._out, pace),
            name="mtq-bench-client",
        )
        self.process.start()

    @property
    def pid(self) -> int:
        return self.process.pid or 0

    def wait_connected(self, timeout: float) -> bool:
        return bool(self._ready.wait(timeout))

    def go(self) -> None:
        self._go.set()

    def poll(self) -> None:
        """Take the child's answer once it is there; raise when it failed or died."""
        if self.status is not None:
            return
        with contextlib.suppress(queue_module.Empty):
            self.status = self._out.get_nowait()
        if self.status is None and not self.process.is_alive():
            try:  # it may have exited right after putting its answer
                self.status = self._out.get(timeout=2)
            except queue_module.Empty:
                raise RuntimeError("the client process died") from None
        if self.status is not None and self.status[0] != "ok":
            raise RuntimeError(f"the client failed: {self.status[0]}")

    def answer(self, timeout: float) -> tuple[float, float]:
        """``(first_publish, last_confirm)``, waiting up to ``timeout`` for the answer."""
        if self.status is None:
            self.status = self._out.get(True, timeout)
        assert self.status is not None
        return self.status[1], self.status[2]

    def close(self) -> None:
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.terminate()
        with contextlib.suppress(queue_module.Empty):
            self._out.get_nowait()
