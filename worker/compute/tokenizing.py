"""Where tokenizer work runs: inline on the event loop for small jobs, in the pool otherwise.

A hop to the pool and back (a future, the pool's locks, a thread wake-up, a loop callback) costs
more CPU than tokenizing a few short segments, and small jobs are the ones that arrive by the
thousand. Large jobs still go to the pool, so the loop never stalls on them (heartbeats, acks
and the other jobs' publishes keep flowing).

Small jobs arriving in one turn of the loop (deliveries come in bursts) are tokenized in one
call per model and language pair (:class:`JobEncoder`): a tokenizer call on many texts costs
about a third less per text than one call per text (Marian's tokenizer, docs/performance.md),
and gives the same ids.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Executor
from typing import Protocol, TypeVar

T = TypeVar("T")


class Encoder(Hashable, Protocol):
    """What tokenizes a job's texts (``worker.engines.model_set.Served``): one model and pair."""

    def encode(self, texts: Sequence[str]) -> list[list[int]]: ...

INLINE_SEGMENTS = 4  # jobs of at most this many segments are tokenized on the loop


async def run_tokenizer_work(
    pool: Executor, segments: int, work: Callable[[], T]
) -> T:
    """``work()`` inline when the job is small, else in ``pool``."""
    if segments <= INLINE_SEGMENTS:
        return work()
    return await asyncio.get_running_loop().run_in_executor(pool, work)


Waiting = list[tuple[Sequence[str], "asyncio.Future[list[list[int]]]"]]


class JobEncoder:
    """A job's token ids: a large job's in the pool; a small job's gathered with the others of
    the loop turn and tokenized at its end, one call per encoder. A call that fails is repeated
    job by job, so only the job at fault sees the error."""

    def __init__(self, pool: Executor) -> None:
        self._pool = pool
        self._waiting: dict[Encoder, Waiting] = {}

    async def encode(self, encoder: Encoder, texts: Sequence[str]) -> list[list[int]]:
        if len(texts) > INLINE_SEGMENTS:
            return await run_tokenizer_work(self._pool, len(texts),
                                            lambda: encoder.encode(texts))
        loop = asyncio.get_running_loop()
        if not self._waiting:
            loop.call_soon(self._run)
        done: asyncio.Future[list[list[int]]] = loop.create_future()
        self._waiting.setdefault(encoder, []).append((texts, done))
        return await done

    def _run(self) -> None:
        waiting, self._waiting = self._waiting, {}
        for encoder, requests in waiting.items():
            try:
                ids = encoder.encode([text for texts, _ in requests for text in texts])
            except Exception:
                _one_by_one(encoder, requests)
                continue
            start = 0
            for texts, done in requests:
                if not done.done():
                    done.set_result(ids[start:start + len(texts)])
                start += len(texts)


def _one_by_one(encoder: Encoder, requests: Waiting) -> None:
    for texts, done in requests:
        if done.done():
            continue
        try:
            done.set_result(encoder.encode(texts))
        except Exception as exc:
            done.set_exception(exc)
