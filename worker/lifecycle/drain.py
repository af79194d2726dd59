"""How the worker stops: the drain on SIGTERM, and burst mode's stop when idle.

Drain: stop consuming, requeue jobs not started (quarantined ones too), dispatch what is
queued at once, finish the rest within ``MTQ_DRAIN_TIMEOUT_S``. Whatever is still unacked at
the deadline (or after a second SIGTERM) is left to the broker, which redelivers it once the
connection closes: nothing is lost either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from worker.batching.queue import BatchQueue
from worker.broker.link import BrokerLink
from worker.lifecycle.jobtable import JobTable
from worker.lifecycle.outcomes import Requeue
from worker.lifecycle.settler import Settler

log = logging.getLogger(__name__)

IDLE_CHECKS = 3


async def drain(
    table: JobTable, queue: BatchQueue, link: BrokerLink, settler: Settler, *,
    settling: Callable[[], int], timeout_s: float, abandon: asyncio.Event,
) -> None:
    """Hand back what has not started, wait for the rest (``settling``: tasks still settling)."""
    table.draining = True
    deadline = time.monotonic() + timeout_s
    with contextlib.suppress(Exception):
        await asyncio.wait_for(link.set_consuming(False), timeout=5)
    requeued = 0
    for entry in table.quarantine.take_all():
        table.forget(entry)
        requeued += await settler.settle(Requeue("draining"), entry.delivery, entry)
    for key, entry in list(table.jobs.items()):
        unstarted = not entry.started and entry.remaining > 0
        if unstarted and queue.withdraw_unstarted(key, entry.remaining):
            table.forget(entry)
            if not entry.orphaned:
                requeued += await settler.settle(Requeue("draining"), entry.delivery, entry)
    queue.drain()
    log.info("draining: %d jobs requeued, %d in flight", requeued, len(table))
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


async def stop_when_idle(table: JobTable, link: BrokerLink, stop: asyncio.Event) -> None:
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
