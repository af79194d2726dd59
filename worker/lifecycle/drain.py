"""How the worker stops: what the drain hands back, how long it waits, and burst mode's stop.

Drain (the driver runs it on SIGTERM): stop consuming, requeue jobs not started (quarantined
ones too), dispatch what is queued at once, finish the rest within ``MTQ_DRAIN_TIMEOUT_S``.
Whatever is still unacked at the deadline (or after a second SIGTERM) is left to the broker,
which redelivers it once the connection closes: nothing is lost either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from worker.batching.queue import BatchQueue
from worker.lifecycle.jobs import InFlightJob
from worker.lifecycle.jobtable import JobTable
from worker.lifecycle.ports import Link

log = logging.getLogger(__name__)

IDLE_CHECKS = 3


def take_unstarted(entry: InFlightJob, queue: BatchQueue) -> bool:
    """Whether the drain hands ``entry`` back: none of its segments started, and they were
    taken out of the scheduler here. Asked job by job, each after the previous one left the
    table, since a job leaving can move the in-flight dedup's work onto the next one."""
    waiting = not entry.started and entry.remaining > 0
    return waiting and queue.withdraw_unstarted(entry.key, entry.remaining)


async def wait_for_in_flight(
    table: JobTable, settling: Callable[[], int], deadline: float, abandon: asyncio.Event
) -> None:
    """Until nothing is held, settling or being received; or the deadline; or ``abandon``."""
    while len(table) or settling() or table.receiving:
        if abandon.is_set() or time.monotonic() >= deadline:
            break
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(abandon.wait(), 0.05)
    table.refresh_gauge()
    if len(table):
        log.warning("drain ended with %d jobs unfinished; the broker redelivers them",
                    len(table))
    else:
        log.info("drained cleanly")


async def stop_when_idle(table: JobTable, link: Link, stop: asyncio.Event) -> None:
    """Burst mode: stop once every route queue is empty and nothing is in flight."""
    idle_checks = 0
    while not stop.is_set():
        await asyncio.sleep(0.25)
        busy = bool(len(table)) or table.receiving > 0 or not link.connected
        if not busy:
            try:
                busy = any(await link.queue_depths())
            except Exception:  # a lost link is "not idle yet"
                busy = True
        idle_checks = 0 if busy else idle_checks + 1
        if idle_checks >= IDLE_CHECKS:
            log.info("burst: queues empty, nothing in flight; stopping")
            stop.set()
