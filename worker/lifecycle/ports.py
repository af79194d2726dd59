"""What the lifecycle needs of the broker, as protocols: the link's part and a publisher.

The AMQP layer (``worker/broker/``) provides both; the lifecycle's unit tests pass an
in-memory double. Nothing here imports aio-pika or aiormq.
"""

from __future__ import annotations

from typing import Any, Protocol

from mtq.core.events import ResultEvent
from worker.batching.fairness import Lane


class ResultSink(Protocol):
    """Publishes with a confirm; raises when the broker did not confirm."""

    async def publish_event(
        self, event: ResultEvent, callback_url: str, delivery_count: int = 0
    ) -> str: ...

    async def dead_letter(
        self, body: bytes, headers: dict[str, Any], route: str, reason: str,
        message_id: str | None = None,
    ) -> None: ...


class Link(Protocol):
    """The broker as the lifecycle sees it: a publisher, consumers on and off, lane windows."""

    @property
    def connected(self) -> bool: ...

    async def publisher(self, timeout: float) -> ResultSink: ...

    async def set_consuming(self, wanted: bool) -> None: ...

    async def resize(self, lane: Lane, prefetch: int) -> None: ...

    async def queue_depths(self) -> list[int]: ...
