"""An in-memory broker for the lifecycle's unit tests: what the driver needs of the link, the
publisher and a delivery's channel, recorded so tests can assert on acks, requeues,
publishes and dead letters. The real-broker integration tests stay beside these."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from mtq.core.contract import DecodeOptions
from mtq.core.events import ModelInfo, ResultEvent, webhook_id
from mtq.core.vouch import Hypothesis
from worker.batching.fairness import Lane


@dataclass
class Channel:
    """A delivery's channel: records what was settled on it."""

    acks: list[int] = field(default_factory=list)
    requeues: list[int] = field(default_factory=list)

    async def basic_ack(self, delivery_tag: int, wait: bool = True) -> None:
        self.acks.append(delivery_tag)

    async def basic_nack(self, delivery_tag: int, requeue: bool = True) -> None:
        self.requeues.append(delivery_tag)


@dataclass
class Published:
    event: ResultEvent
    callback_url: str
    delivery_count: int

    @property
    def body(self) -> dict[str, Any]:
        return self.event.to_json()


@dataclass
class InMemoryBroker:
    """The link and the results publisher in one; ``refuse`` publishes are not confirmed."""

    channel: Channel = field(default_factory=Channel)
    published: list[Published] = field(default_factory=list)
    dead_letters: list[tuple[bytes, str]] = field(default_factory=list)
    consuming: list[bool] = field(default_factory=list)
    resizes: list[tuple[Lane, int]] = field(default_factory=list)
    refuse: int = 0
    refused: int = 0
    connected: bool = True
    _tags: int = 0

    def message(self, job: dict[str, Any] | bytes, *, delivery_count: int = 0) -> Any:
        """A delivered job message, as aiormq would hand it to the worker."""
        self._tags += 1
        body = job if isinstance(job, bytes) else json.dumps(job).encode()
        headers = {"x-delivery-count": delivery_count} if delivery_count else {}
        return SimpleNamespace(body=body, channel=self.channel, delivery_tag=self._tags,
                               redelivered=delivery_count > 0, headers=headers,
                               message_id=None, timestamp=None, consumer=None)

    # -- Link --------------------------------------------------------------------------------

    async def publisher(self, timeout: float) -> InMemoryBroker:
        return self

    async def set_consuming(self, wanted: bool) -> None:
        self.consuming.append(wanted)

    async def resize(self, lane: Lane, prefetch: int) -> None:
        self.resizes.append((lane, prefetch))

    async def queue_depths(self) -> list[int]:
        return [0]

    # -- ResultSink --------------------------------------------------------------------------

    async def publish_event(
        self, event: ResultEvent, callback_url: str, delivery_count: int = 0
    ) -> str:
        await asyncio.sleep(0)
        if self.refused < self.refuse:
            self.refused += 1
            raise ConnectionError("publish not confirmed (in-memory broker refusing)")
        self.published.append(Published(event, callback_url, delivery_count))
        return webhook_id(event.job_id, event.type)

    async def dead_letter(
        self, body: bytes, headers: dict[str, Any], route: str, reason: str,
        message_id: str | None = None,
    ) -> None:
        self.dead_letters.append((body, reason))


class ReversingEngine:
    """A model stand-in: one token per character, the "translation" reverses the ids."""

    info = ModelInfo(name="reversing", revision="0")
    max_source_tokens = 512

    def encode(self, texts: Sequence[str], pair: Any = None) -> list[list[int]]:
        return [[ord(c) for c in text] for text in texts]

    def generate(
        self, sources: Sequence[Sequence[int]], options: DecodeOptions,
        prefixes: Sequence[Sequence[int]] | None = None,
    ) -> list[list[int]]:
        return [list(reversed(source)) for source in sources]

    def generate_scored(
        self, sources: Sequence[Sequence[int]], options: DecodeOptions,
        prefixes: Sequence[Sequence[int]] | None = None,
    ) -> list[Hypothesis]:
        """Certain of every reversal: each token (and the end) at probability 1."""
        return [Hypothesis(row, 0.0, len(row) + 1) for row in self.generate(sources, options)]

    def decode(self, outputs: Sequence[Sequence[int]]) -> list[str]:
        return ["".join(chr(i) for i in output) for output in outputs]

    def warmup(self, options: DecodeOptions) -> None:
        pass

    def suggest_token_budget(self, configured: int, options: DecodeOptions) -> int:
        return configured

    def is_out_of_memory(self, exc: BaseException) -> bool:
        return False

    def release_memory(self) -> None:
        pass
