"""Getting a result confirmed into ``mtq.results``, and remembering what already was.

A computed result is worth keeping: publishing retries with backoff (the job stays unacked)
instead of requeueing the job, so a broker blip costs neither the computation nor a delivery
of the job's limit. Results confirmed whose ack then failed (the channel died in between) are
remembered, so their redelivery is acked at once instead of being translated again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict

from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential_jitter,
)

from mtq.core.events import ResultEvent
from worker.lifecycle.ports import Link

log = logging.getLogger(__name__)

PUBLISHED_MEMORY = 4096
FIRST_RETRY_S = 0.2  # after the plain first attempt; then the retry loop's backoff


class Outbox:
    def __init__(self, link: Link, timeout_s: float) -> None:
        self._link = link
        self._timeout_s = timeout_s
        self._published: OrderedDict[str, str] = OrderedDict()  # fingerprint -> webhook id

    async def publish(
        self, event: ResultEvent, callback_url: str, job_id: str, delivery_count: int = 0
    ) -> str:
        """Publish until confirmed (each attempt waits for the link); returns the webhook id."""
        started = time.monotonic()
        try:  # the common case, without building a retry loop for it
            publisher = await self._link.publisher(self._timeout_s)
            return await publisher.publish_event(event, callback_url, delivery_count)
        except Exception as exc:
            log.warning("job %s: result publish failed (%s); retrying in %.1fs", job_id, exc,
                        FIRST_RETRY_S)
        # The loop's own first attempt would come at once: wait as its first backoff would.
        await asyncio.sleep(FIRST_RETRY_S)
        retrying = AsyncRetrying(
            stop=stop_after_delay(max(0.0, self._timeout_s - (time.monotonic() - started))),
            wait=wait_exponential_jitter(multiplier=0.2, max=5.0),
            retry=retry_if_exception_type(Exception),
            reraise=True,
            before_sleep=lambda state: log.warning(
                "job %s: result publish failed (%s); retrying", job_id,
                state.outcome.exception() if state.outcome else "?",
            ),
        )
        async for attempt in retrying:
            with attempt:
                left = self._timeout_s - (time.monotonic() - started)
                publisher = await self._link.publisher(left)
                return await publisher.publish_event(event, callback_url, delivery_count)
        raise AssertionError("unreachable")

    def remember(self, fingerprint: str, hook_id: str) -> None:
        """A confirmed result whose ack failed: its redelivery needs no new computation."""
        self._published[fingerprint] = hook_id
        while len(self._published) > PUBLISHED_MEMORY:
            self._published.popitem(last=False)

    def take(self, fingerprint: str) -> str | None:
        return self._published.pop(fingerprint, None)
