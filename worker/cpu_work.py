"""Where tokenizer work runs: inline on the event loop for small jobs, in the pool otherwise.

A hop to the pool and back (a future, the pool's locks, a thread wake-up, a loop callback) costs
more CPU than tokenizing a few short segments, and small jobs are the ones that arrive by the
thousand. Large jobs still go to the pool, so the loop never stalls on them (heartbeats, acks
and the other jobs' publishes keep flowing).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar

T = TypeVar("T")

INLINE_SEGMENTS = 4  # jobs of at most this many segments are tokenized on the loop


async def run_tokenizer_work(
    pool: Executor, segments: int, work: Callable[[], T]
) -> T:
    """``work()`` inline when the job is small, else in ``pool``."""
    if segments <= INLINE_SEGMENTS:
        return work()
    return await asyncio.get_running_loop().run_in_executor(pool, work)
