"""The client side of the end-to-end run, in its own process (as a real client would be).

Kept free of torch imports: ``multiprocessing`` re-imports this module in the child.
"""

from __future__ import annotations

import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any


def publish_jobs(
    amqp_url: str, jobs: list[dict[str, Any]], ready: Event, go: Event,
    out: Queue[tuple[str, float, float]],
) -> None:
    """Connect, say ready, wait for go, then validate and publish every job with confirms.

    Puts ``("ok", first_publish, last_confirm)`` in ``out`` (``time.monotonic``, which is
    CLOCK_MONOTONIC on Linux and so comparable across processes), or ``("error", ...)``.
    """
    from mtq.contract import JobLimits
    from mtq.submit import JobPublisher, validate

    try:
        limits = JobLimits()
        with JobPublisher(amqp_url) as publisher:
            ready.set()
            go.wait()
            first = time.monotonic()
            for job in jobs:
                validate(job, limits)
                publisher.publish(job)
            out.put(("ok", first, time.monotonic()))
    except Exception as exc:
        ready.set()
        out.put((f"error: {type(exc).__name__}: {exc}", 0.0, 0.0))
