"""The workers' events, read from the gateway's own queue into PostgreSQL.

A message is acked only after every event in it is stored, so a crash or a database outage
redelivers it; storing is idempotent (progress only moves forward, the first final event
wins), so a redelivery changes nothing. Events of jobs the gateway did not submit match no
row and are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import aio_pika.exceptions
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from gateway.broker import declare_feed
from gateway.store import Store
from mtq.core import result_batch

log = logging.getLogger(__name__)

PROGRESS = "job.progress"
FINAL_STATUS = {"job.completed": "completed", "job.failed": "failed",
                "job.cancelled": "cancelled"}


def final_done(event_type: str, event: dict[str, Any]) -> int | None:
    """Segments done by a final event: all (completed), the translated ones (cancelled)."""
    translations = event.get("translations")
    if event_type == "job.completed" and isinstance(translations, list):
        return len(translations)
    if event_type == "job.cancelled" and isinstance(translations, list):
        return sum(1 for t in translations if t is not None)
    return None


async def store_event(store: Store, body: bytes) -> None:
    try:
        event = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        log.warning("gateway feed: an event that is not JSON; skipped")
        return
    if not isinstance(event, dict):
        return
    tenant, job_id, kind = event.get("tenant"), event.get("job_id"), event.get("type")
    if not (isinstance(tenant, str) and isinstance(job_id, str)):
        return  # the gateway submits every job with a tenant: not one of ours
    if kind == PROGRESS:
        done = event.get("done")
        if isinstance(done, int) and not isinstance(done, bool):
            await store.apply_progress(tenant, job_id, done)
    elif isinstance(kind, str) and kind in FINAL_STATUS:
        await store.apply_final(tenant, job_id, FINAL_STATUS[kind],
                                final_done(kind, event), event)


class Feed:
    def __init__(self, connection: AbstractRobustConnection, store: Store,
                 prefetch: int = 64) -> None:
        self._connection = connection
        self._store = store
        self._prefetch = prefetch
        self.consuming = False

    async def start(self) -> None:
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=self._prefetch)
        queue = await declare_feed(channel)
        await queue.consume(self._on_message)
        self.consuming = True

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            parts = result_batch.events(message.headers, message.body)
        except result_batch.InvalidBatch as exc:
            log.warning("gateway feed: unusable batch message (%s); skipped", exc)
            await message.ack()
            return
        try:
            for _, body in parts:
                await store_event(self._store, body)
        except Exception as exc:
            # The database is down or failing: keep the message for later, not busy-looping.
            log.warning("gateway feed: storing events failed (%s); requeued", exc)
            await asyncio.sleep(1.0)
            # A gone channel needs no nack: the broker redelivers anyway.
            with contextlib.suppress(aio_pika.exceptions.AMQPError):
                await message.nack(requeue=True)
            return
        await message.ack()
