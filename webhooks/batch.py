"""The events of one batch message (``mtq/core/result_batch.py``), each settled as its own message.

Every event of a batch goes through the same delivery, retry ladder and parking as a message
of its own: an :class:`EventPart` has the body, headers and properties a single-event message
would have, so moving it to the ladder or parking it publishes exactly that single-event
message. The batch message itself is acked once every part is settled; if any part asked to
be requeued (a move to the ladder the broker did not confirm), the whole message is requeued
instead, and its redelivery repeats every event: duplicates, which receivers dedupe on
``webhook-id``, never a loss. (An event the dispatcher crashes on goes down the ladder on its
own, ``dispatcher.py``, so a poison event does not repeat its neighbours.)
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aio_pika.abc import AbstractIncomingMessage

from mtq.core.headers import WEBHOOK_ID_HEADER
from webhooks.events import header_text

Settle = Callable[[bool], Awaitable[None]]  # requeue?


class BatchSettlement:
    """Counts a batch message's parts down; settles the message when the last one is."""

    def __init__(self, parts: int, settle: Settle) -> None:
        self._left = parts
        self._requeue = False
        self._settle = settle

    async def part_settled(self, *, requeue: bool) -> None:
        self._requeue = self._requeue or requeue
        self._left -= 1
        if self._left == 0:
            await self._settle(self._requeue)


class EventPart:
    """One event of a batch message, with the properties of a single-event message."""

    content_type = "application/json"
    content_encoding: str | None = None
    correlation_id: str | None = None
    type: str | None = None
    app_id: str | None = None

    def __init__(self, batch: BatchSettlement, source: AbstractIncomingMessage,
                 headers: dict[str, Any], body: bytes) -> None:
        self._batch = batch
        self._settled = False
        self.headers: Mapping[str, Any] = headers
        self.body = body
        self.message_id: str | None = header_text(headers, WEBHOOK_ID_HEADER) or None
        self.timestamp: datetime.datetime | None = source.timestamp

    async def ack(self) -> None:
        await self._settle(requeue=False)

    async def nack(self, *, requeue: bool = True) -> None:
        await self._settle(requeue=requeue)

    async def _settle(self, *, requeue: bool) -> None:
        if not self._settled:  # once: a second settle of one part must not count twice
            self._settled = True
            await self._batch.part_settled(requeue=requeue)
