"""Link-loss recovery and the hand-back of jobs that wait too long.

After a connection loss every unsettled delivery died with its channel and the broker
redelivers them all. Jobs not started are dropped (their redelivery brings them back); started
ones keep computing as orphans, and a redelivery of the same body adopts them, so results
computed before the drop are not thrown away.

Jobs not started by half of ``MTQ_CONSUMER_TIMEOUT_S`` are handed back before the broker's
consumer timeout would close the channel under every job this worker holds
(docs/reliability.md): :meth:`Recovery.stale` names them, the driver requeues them.
"""

from __future__ import annotations

import logging

from worker.batching.queue import BatchQueue
from worker.broker.message import Delivery
from worker.lifecycle.jobs import InFlightJob
from worker.lifecycle.jobtable import JobTable

log = logging.getLogger(__name__)


class Recovery:
    def __init__(self, table: JobTable, queue: BatchQueue, consumer_timeout_s: float) -> None:
        self._table = table
        self._queue = queue
        self.stale_after_s = consumer_timeout_s / 2

    def on_link_lost(self) -> None:
        """Every unsettled delivery died with the channel: drop the unstarted, keep the rest."""
        table = self._table
        for entry in table.quarantine.take_all():
            table.forget(entry)
        for key, entry in list(table.jobs.items()):
            if entry.delivery.settled:
                continue
            unstarted = not entry.started and entry.remaining > 0
            if unstarted and self._queue.withdraw_unstarted(key, entry.remaining):
                table.forget(entry)
                continue
            table.orphan(entry)

    def adopt(self, delivery: Delivery) -> bool:
        """A redelivery of an orphan: the computation in progress takes it over."""
        orphan = self._table.orphans.pop(delivery.fingerprint, None)
        if orphan is None or not self._table.holds(orphan):
            return False
        orphan.delivery = delivery
        orphan.orphaned = False
        log.info("job %s: redelivered after a connection loss; the computation in progress "
                 "adopts it", orphan.job.job_id)
        return True

    def stale(self, now: float) -> list[InFlightJob]:
        """Jobs still waiting at half the consumer timeout, taken out of the scheduler (or the
        quarantine) to be handed back."""
        table = self._table
        found: list[InFlightJob] = []
        for key, entry in list(table.jobs.items()):
            if table.draining or entry.started or entry.orphaned or entry.remaining == 0:
                continue
            waited = now - entry.received_mono
            if waited < self.stale_after_s or table.solo == key:
                continue
            if key in table.quarantine or self._queue.withdraw_unstarted(key, entry.remaining):
                log.warning("job %s: not started after %.0fs; handing it back before the "
                            "consumer timeout", entry.job.job_id, waited)
                found.append(entry)
        return found
