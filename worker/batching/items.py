"""What the scheduler moves: a job's segment as intake hands it over (:class:`WorkItem`), as it
waits in a pool (:class:`Segment`), and the batches formed from them (:class:`Batch`). Pure.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from mtq.core.contract import DecodeOptions
from worker.batching.fairness import DEFAULT_TENANT, Lane


def batch_cost(count: int, longest: int, beam_size: int) -> int:
    """What beam search holds in memory and computes per step: segments × longest × beam."""
    return count * longest * beam_size


@dataclass(frozen=True)
class WorkItem:
    """One segment of a job that needs the model: its index in the job and its token ids."""

    index: int
    tokens: Sequence[int]
    prefix: tuple[int, ...] = ()  # forced first output tokens: the job's target language
    align: bool = False  # its output's attention is wanted (markup restoration)


@dataclass(frozen=True)
class Segment:
    """One source segment waiting for (or in) a batch."""

    job_key: Hashable
    index: int
    tokens: tuple[int, ...]
    arrival: int  # global arrival order: the oldest segment anchors the next batch
    enqueued_at: float
    lane: Lane = Lane.BULK
    tenant: str = DEFAULT_TENANT
    # Forced first output tokens (the target language on multilingual models): segments of
    # different pairs share a batch, each with its own prefix.
    prefix: tuple[int, ...] = ()
    align: bool = False  # its output's attention is wanted (worker/compute/alignment.py)

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
