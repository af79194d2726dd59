"""Waiting segments of one decode setting, by lane and tenant, and how a batch grows from them.

Pure logic, used by :mod:`worker.batching.scheduler`. A pool keeps one queue per (lane, tenant),
each sorted by (length, arrival). A batch starts at an anchor segment (chosen by the scheduler) and
grows one segment at a time, each queue contributing a contiguous run of its sorted order:

1. the anchor's lane first, then the other lane (an interactive batch fills with interactive
   work before bulk, a bulk batch with bulk before interactive);
2. within a lane, the tenant furthest behind its fair share (counting what this batch already
   gives it) adds next;
3. of that tenant's two neighbours (the next shorter and the next longer segment), the one that
   adds less padding, while the batch stays within the token budget, the segment cap and,
   past ``padding_free_segments``, the padding cap.

With one lane and one tenant this is exactly the single-queue window: start at the oldest
segment and grow on the side that adds less padding.
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field

from worker.batching.fairness import Lane, TenantShares
from worker.batching.items import Segment, batch_cost

QueueKey = tuple[Lane, str]  # (lane, tenant)


@dataclass(frozen=True)
class BatchLimits:
    token_budget: int
    max_segments: int
    beam_size: int
    max_padding: float
    padding_free_segments: int


@dataclass
class SortedSegments:
    """One (lane, tenant) queue, kept sorted by (length, arrival)."""

    keys: list[tuple[int, int]] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)

    def add(self, segment: Segment) -> None:
        key = (segment.length, segment.arrival)
        position = bisect.bisect(self.keys, key)
        self.keys.insert(position, key)
        self.segments.insert(position, segment)

    def oldest_index(self) -> int:
        return min(range(len(self.segments)), key=lambda i: self.segments[i].arrival)

    def insertion_point(self, length: int) -> int:
        return bisect.bisect_left(self.keys, (length, -1))

    def take(self, start: int, stop: int) -> list[Segment]:
        taken = self.segments[start:stop]
        del self.segments[start:stop]
        del self.keys[start:stop]
        return taken

    def remove_job(self, job_key: Hashable) -> list[Segment]:
        keep = [i for i, s in enumerate(self.segments) if s.job_key != job_key]
        if len(keep) == len(self.segments):
            return []
        dropped = [s for s in self.segments if s.job_key == job_key]
        self.segments = [self.segments[i] for i in keep]
        self.keys = [self.keys[i] for i in keep]
        return dropped


@dataclass
class _Growth:
    """A batch being grown: per-queue windows ``[start, stop)`` and the batch's totals."""

    windows: dict[QueueKey, list[int]]
    count: int
    longest: int
    real: int
    pending: dict[str, int]  # tokens per tenant in this batch

    def padding_added(self, length: int) -> int:
        if length <= self.longest:
            return self.longest - length
        return (length - self.longest) * self.count

    def fits(self, length: int, limits: BatchLimits) -> bool:
        count = self.count + 1
        longest = max(self.longest, length)
        if batch_cost(count, longest, limits.beam_size) > limits.token_budget:
            return False
        if count > limits.padding_free_segments:
            return 1 - (self.real + length) / (count * longest) <= limits.max_padding
        return True

    def add(self, key: QueueKey, position: int, length: int) -> None:
        window = self.windows.get(key)
        if window is None:
            self.windows[key] = [position, position + 1]
        elif position < window[0]:
            window[0] = position
        else:
            window[1] = position + 1
        self.count += 1
        self.longest = max(self.longest, length)
        self.real += length
        self.pending[key[1]] = self.pending.get(key[1], 0) + length


class Pool:
    """Every waiting segment of one decode setting."""

    def __init__(self) -> None:
        self.queues: dict[QueueKey, SortedSegments] = {}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Segment]:
        for queue in self.queues.values():
            yield from queue.segments

    def add(self, segment: Segment) -> None:
        self.queues.setdefault((segment.lane, segment.tenant), SortedSegments()).add(segment)
        self._size += 1

    def remove_job(self, job_key: Hashable) -> list[Segment]:
        dropped: list[Segment] = []
        for key, queue in list(self.queues.items()):
            dropped += queue.remove_job(job_key)
            if not queue.segments:
                del self.queues[key]
        self._size -= len(dropped)
        return dropped

    def oldest(self) -> Segment:
        return min((q.segments[q.oldest_index()] for q in self.queues.values()),
                   key=lambda s: s.arrival)

    def longest(self) -> int:
        return max(q.segments[-1].length for q in self.queues.values())

    def lanes(self) -> set[Lane]:
        return {lane for lane, _ in self.queues}

    def tenants(self, lane: Lane) -> set[str]:
        return {tenant for queue_lane, tenant in self.queues if queue_lane is lane}

    def oldest_in(self, key: QueueKey) -> Segment | None:
        queue = self.queues.get(key)
        return None if queue is None else queue.segments[queue.oldest_index()]

    def build(self, anchor: QueueKey, limits: BatchLimits, shares: TenantShares) -> list[Segment]:
        """Take the batch anchored on the oldest segment of queue ``anchor``."""
        queue = self.queues[anchor]
        start = queue.oldest_index()
        first = queue.segments[start]
        growth = _Growth({anchor: [start, start + 1]}, 1, first.length, first.length,
                         {anchor[1]: first.length})
        lane_order = sorted(self.lanes(), key=lambda lane: lane is not anchor[0])
        while growth.count < limits.max_segments:
            step = self._next_step(growth, lane_order, limits, shares, first.length)
            if step is None:
                break
            growth.add(*step)
        taken: list[Segment] = []
        for key, (begin, end) in growth.windows.items():
            taken.extend(self.queues[key].take(begin, end))
            if not self.queues[key].segments:
                del self.queues[key]
        self._size -= len(taken)
        return taken

    def _next_step(
        self, growth: _Growth, lane_order: list[Lane], limits: BatchLimits,
        shares: TenantShares, anchor_length: int,
    ) -> tuple[QueueKey, int, int] | None:
        for lane in lane_order:
            best: tuple[float, str, QueueKey, int, int] | None = None
            for key, queue in self.queues.items():
                if key[0] is not lane:
                    continue
                side = self._best_side(key, queue, growth, limits, anchor_length)
                if side is None:
                    continue
                rank = (shares.projected(key[1], growth.pending.get(key[1], 0)), key[1])
                if best is None or rank < best[:2]:
                    best = (*rank, key, *side)
            if best is not None:
                return best[2], best[3], best[4]
        return None

    @staticmethod
    def _best_side(
        key: QueueKey, queue: SortedSegments, growth: _Growth, limits: BatchLimits,
        anchor_length: int,
    ) -> tuple[int, int] | None:
        """(position, length) of the neighbour adding less padding (ties: the shorter)."""
        window = growth.windows.get(key)
        if window is None:
            point = queue.insertion_point(anchor_length)
            left, right = point - 1, point
        else:
            left, right = window[0] - 1, window[1]
        best: tuple[int, int, int] | None = None  # (padding, position, length)
        for position in (left, right):
            if not 0 <= position < len(queue.segments):
                continue
            length = queue.segments[position].length
            if not growth.fits(length, limits):
                continue
            padding = growth.padding_added(length)
            if best is None or padding < best[0]:
                best = (padding, position, length)
        return None if best is None else (best[1], best[2])
