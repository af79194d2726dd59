"""The one place where a job message is settled (ack or requeue).

Everything else decides *what* should happen and calls this. Settling can fail when the
channel the message came on has died (connection loss, broker restart): the broker has then
already requeued the message and will redeliver it, so that failure is logged, never raised.
"""

from __future__ import annotations

import logging

from aio_pika.abc import AbstractIncomingMessage
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError

log = logging.getLogger(__name__)


class Delivery:
    """A received job message that must be settled exactly once."""

    def __init__(self, message: AbstractIncomingMessage, queue: str) -> None:
        self.message = message
        self.queue = queue
        self.settled = False

    @property
    def redelivered(self) -> bool:
        return bool(self.message.redelivered)

    @property
    def delivery_count(self) -> int:
        """How often the broker delivered this before (quorum queues' ``x-delivery-count``)."""
        value = (self.message.headers or {}).get("x-delivery-count", 0)
        return value if isinstance(value, int) else 0

    async def ack(self, job: str) -> bool:
        return await self._settle(job, "ack")

    async def requeue(self, job: str) -> bool:
        return await self._settle(job, "requeue")

    async def _settle(self, job: str, how: str) -> bool:
        if self.settled:
            return False
        self.settled = True
        try:
            if how == "ack":
                await self.message.ack()
            else:
                await self.message.nack(requeue=True)
        except (AMQPError, ChannelInvalidStateError, ConnectionError, RuntimeError) as exc:
            log.warning(
                "job %s: could not %s (%s); the broker will redeliver it", job, how, exc
            )
            return False
        return True
