"""Micro-batch formation across every in-flight job. Pure logic: no torch, no AMQP.

Segments of all jobs wait in one pool per decode setting (beam size, max new tokens), since
only segments with equal settings can share a ``generate`` call. A batch is built around the
oldest waiting segment (so no job starves) and grown with the segments nearest in length (so
little compute is spent on padding) until the token budget is reached.

Cost of a batch = segments × longest source length × beam size: what beam search holds in
memory and computes per step is proportional to it.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

from mtq.contract import DecodeOptions
from mtq.settings import Settings


@dataclass(frozen=True)
class WorkItem:
    """One segment of a job that needs the model: its index in the job and its token ids."""

    index: int
    tokens: Sequence[int]


@dataclass(frozen=True)
class Segment:
    """One source segment waiting for (or in) a batch."""

    job_key: Hashable
    index: int
    tokens: tuple[int, ...]
    arrival: int  # global arrival order: the oldest segment anchors the next batch
    enqueued_at: float

    @property
    def length(self) -> int:
        return len(self.tokens)


@dataclass(frozen=True)
class Batch:
    options: DecodeOptions
    segments: tuple[Segment, ...]

    @property
    def longest(self) -> int:
        return max(s.length for s in self.segments)

    @property
    def cost(self) -> int:
        return batch_cost(len(self.segments), self.longest, self.options.beam_size)

    @property
    def real_tokens(self) -> int:
        return sum(s.length for s in self.segments)

    @property
    def padded_tokens(self) -> int:
        return len(self.segments) * self.longest

    @property
    def padding_ratio(self) -> float:
        padded = self.padded_tokens
        return 0.0 if padded == 0 else 1.0 - self.real_tokens / padded

    def split(self) -> tuple[Batch, Batch]:
        middle = len(self.segments) // 2
        return (
            Batch(self.options, self.segments[:middle]),
            Batch(self.options, self.segments[middle:]),
        )


def batch_cost(count: int, longest: int, beam_size: int) -> int:
    return count * longest * beam_size


@dataclass
class _Pool:
    """Waiting segments of one decode setting, kept sorted by (length, arrival)."""

    segments: list[Segment] = field(default_factory=list)
    keys: list[tuple[int, int]] = field(default_factory=list)

    def add(self, segment: Segment) -> None:
        key = (segment.length, segment.arrival)
        position = bisect.bisect(self.keys, key)
        self.keys.insert(position, key)
        self.segments.insert(position, segment)

    def oldest_index(self) -> int:
        return min(range(len(self.segments)), key=lambda i: self.segments[i].arrival)

    def take(self, start: int, stop: int) -> list[Segment]:
        taken = self.segments[start:stop]
        del self.segments[start:stop]
        del self.keys[start:stop]
        return taken


class Scheduler:
    """Forms batches. Not thread-safe: :class:`BatchQueue` guards it for the worker."""

    def __init__(
        self, token_budget: int, max_batch_segments: int, max_wait_s: float,
        min_token_budget: int = 256, max_padding: float = 1.0, padding_free_segments: int = 8,
    ) -> None:
        self.token_budget = token_budget
        self.max_batch_segments = max_batch_segments
        self.max_wait_s = max_wait_s
        self.min_token_budget = min(min_token_budget, token_budget)
        self.max_padding = max_padding
        self.padding_free_segments = padding_free_segments
        self._pools: dict[DecodeOptions, _Pool] = {}
        self._arrivals = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> Scheduler:
        """The worker's scheduler (the benchmark builds it here too, to measure the same)."""
        return cls(
            token_budget=settings.batch_tokens,
            max_batch_segments=settings.max_batch_segments,
            max_wait_s=settings.batch_max_wait_ms / 1000,
            max_padding=settings.batch_max_padding,
        )

    # -- input ----------------------------------------------------------------------------

    def add(
        self, job_key: Hashable, options: DecodeOptions, items: Sequence[WorkItem], now: float,
    ) -> None:
        """Queue the segments of one job that need the model."""
        pool = self._pools.setdefault(options, _Pool())
        for item in items:
            self._arrivals += 1
            pool.add(Segment(job_key, item.index, tuple(item.tokens), self._arrivals, now))

    def cancel(self, job_key: Hashable) -> int:
        """Drop every waiting segment of a job (it failed or is being requeued)."""
        dropped = 0
        for options, pool in list(self._pools.items()):
            keep = [i for i, s in enumerate(pool.segments) if s.job_key != job_key]
            dropped += len(pool.segments) - len(keep)
            pool.segments = [pool.segments[i] for i in keep]
            pool.keys = [pool.keys[i] for i in keep]
            if not pool.segments:
                del self._pools[options]
        return dropped

    def withdraw_unstarted(self, job_key: Hashable, expected: int) -> bool:
        """Remove a job's segments only if all ``expected`` of them are still waiting."""
        waiting = sum(
            1 for pool in self._pools.values() for s in pool.segments if s.job_key == job_key
        )
        if waiting != expected:
            return False
        self.cancel(job_key)
        return True

    @property
    def waiting(self) -> int:
        return sum(len(pool.segments) for pool in self._pools.values())

    def waiting_jobs(self) -> set[Hashable]:
        return {s.job_key for pool in self._pools.values() for s in pool.segments}

    # -- output ---------------------------------------------------------------------------

    def seconds_until_ready(self, now: float) -> float | None:
        """0 when a batch should be formed now, else how long to wait; None when idle."""
        if not self._pools:
            return None
        best: float | None = None
        for options, pool in self._pools.items():
            if self._pool_is_full(options, pool):
                return 0.0
            oldest = pool.segments[pool.oldest_index()]
            wait = max(0.0, oldest.enqueued_at + self.max_wait_s - now)
            best = wait if best is None else min(best, wait)
        return best

    def next_batch(self, now: float, *, force: bool = False) -> Batch | None:
        """The next batch, or None while no pool is full and no segment has waited long enough.

        ``force`` skips the wait (used when draining).
        """
        ready = []
        for options, pool in self._pools.items():
            oldest = pool.segments[pool.oldest_index()]
            due = oldest.enqueued_at + self.max_wait_s <= now
            if force or due or self._pool_is_full(options, pool):
                ready.append((oldest.arrival, options))
        if not ready:
            return None
        _, options = min(ready, key=lambda item: item[0])
        pool = self._pools[options]
        start, stop = self._window(pool, options.beam_size)
        batch = Batch(options, tuple(pool.take(start, stop)))
        if not pool.segments:
            del self._pools[options]
        return batch

    def shrink_budget(self, factor: float = 0.75) -> int:
        """Lower the token budget after the device ran out of memory; returns the new budget."""
        self.token_budget = max(self.min_token_budget, int(self.token_budget * factor))
        return self.token_budget

    def _pool_is_full(self, options: DecodeOptions, pool: _Pool) -> bool:
        if len(pool.segments) >= self.max_batch_segments:
            return True
        longest = pool.segments[-1].length
        return batch_cost(len(pool.segments), longest, options.beam_size) >= self.token_budget

    def _window(self, pool: _Pool, beam_size: int) -> tuple[int, int]:
        """The slice of the length-sorted pool that forms the batch.

        Starts at the oldest segment and grows one neighbour at a time, picking the side that
        adds less padding, while the batch stays within budget. A single segment always fits
        (one over the budget on its own still has to be translated). Past
        ``padding_free_segments`` segments a neighbour that would push the batch's padding
        ratio over ``max_padding`` is not taken: a smaller, denser batch beats a wasteful one.
        """
        segments = pool.segments
        start = pool.oldest_index()
        stop = start + 1
        real = segments[start].length
        while stop - start < self.max_batch_segments:
            longest = segments[stop - 1].length
            count = stop - start + 1
            left_ok = start > 0 and batch_cost(count, longest, beam_size) <= self.token_budget
            right_ok = stop < len(segments) and (
                batch_cost(count, segments[stop].length, beam_size) <= self.token_budget
            )
            if count > self.padding_free_segments:
                left_ok = left_ok and self._dense(real + segments[start - 1].length, count, longest)
                right_ok = right_ok and self._dense(
                    real + segments[stop].length, count, segments[stop].length
                )
            if not (left_ok or right_ok):
                break
            left_padding = longest - segments[start - 1].length if left_ok else None
            right_padding = (
                (segments[stop].length - longest) * (stop - start) if right_ok else None
            )
            prefer_left = left_padding is not None and (
                right_padding is None or left_padding <= right_padding
            )
            if prefer_left:
                start -= 1
                real += segments[start].length
            else:
                real += segments[stop].length
                stop += 1
        return start, stop

    def _dense(self, real_tokens: int, count: int, longest: int) -> bool:
        return 1 - real_tokens / (count * longest) <= self.max_padding


class BatchQueue:
    """Thread-safe front of the :class:`Scheduler`.

    The event loop adds and cancels work; the inference thread blocks in :meth:`get` until a
    batch is due. Every call holds the lock for microseconds, so the loop never stalls.
    """

    def __init__(self, scheduler: Scheduler, clock: Callable[[], float] = time.monotonic) -> None:
        self._scheduler = scheduler
        self._cond = threading.Condition()
        self._clock = clock
        self._draining = False
        self._closed = False

    def add(self, job_key: Hashable, options: DecodeOptions, items: Sequence[WorkItem]) -> None:
        with self._cond:
            self._scheduler.add(job_key, options, items, self._clock())
            self._cond.notify()

    def cancel(self, job_key: Hashable) -> int:
        with self._cond:
            return self._scheduler.cancel(job_key)

    def withdraw_unstarted(self, job_key: Hashable, expected: int) -> bool:
        with self._cond:
            return self._scheduler.withdraw_unstarted(job_key, expected)

    def shrink_budget(self) -> int:
        with self._cond:
            return self._scheduler.shrink_budget()

    @property
    def token_budget(self) -> int:
        return self._scheduler.token_budget

    def drain(self) -> None:
        """Stop waiting for batches to fill: dispatch what is queued at once."""
        with self._cond:
            self._draining = True
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def get(self) -> Batch | None:
        """Block until a batch is due; None once closed."""
        with self._cond:
            while not self._closed:
                now = self._clock()
                batch = self._scheduler.next_batch(now, force=self._draining)
                if batch is not None:
                    return batch
                self._cond.wait(self._scheduler.seconds_until_ready(now))
            return None
