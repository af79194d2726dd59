"""The workloads: generated sentences grouped into jobs, in two mixes.

Sentences come from :func:`mtq.tools.tiny_model.generated_sentences`: word counts are log-normal
(median about 13 words, nine in ten between 5 and 30, a tail capped at 120), which is roughly
what documents split into sentences look like. Both mixes hold the *same* sentences in the
same order; only the grouping into jobs differs, so their numbers compare directly.

- ``small``: many jobs of 1 to 3 segments (chat messages, UI strings, one-off API calls);
- ``large``: a few jobs of hundreds of segments (documents).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from mtq.tools.tiny_corpus import generated_sentences

MIXES = ("small", "large")


@dataclass(frozen=True)
class Workload:
    mix: str
    jobs: tuple[tuple[str, ...], ...]

    @property
    def segments(self) -> int:
        return sum(len(job) for job in self.jobs)

    def describe(self) -> str:
        sizes = [len(job) for job in self.jobs]
        return f"{len(sizes)} jobs of {min(sizes)}-{max(sizes)} segments, {self.segments} in all"


def make_workload(
    mix: str, segments: int, *, large_job_size: int = 200, seed: int = 2024
) -> Workload:
    """``segments`` generated sentences grouped as ``mix`` says."""
    if segments < 1:
        raise ValueError("a workload needs at least one segment")
    sentences = list(generated_sentences(segments, seed))
    if mix == "small":
        sizes = _small_job_sizes(segments, random.Random(seed + 1))
    elif mix == "large":
        sizes = _large_job_sizes(segments, large_job_size)
    else:
        raise ValueError(f"unknown mix {mix!r}; choose from {', '.join(MIXES)}")
    jobs = []
    start = 0
    for size in sizes:
        jobs.append(tuple(sentences[start : start + size]))
        start += size
    return Workload(mix, tuple(jobs))


def _small_job_sizes(total: int, rng: random.Random) -> list[int]:
    sizes: list[int] = []
    left = total
    while left > 0:
        size = min(left, rng.choices((1, 2, 3), weights=(5, 3, 2))[0])
        sizes.append(size)
        left -= size
    return sizes


def _large_job_sizes(total: int, job_size: int) -> list[int]:
    """Jobs of about ``job_size`` segments, the remainder spread so no job is tiny."""
    count = max(1, round(total / job_size))
    base, extra = divmod(total, count)
    return [base + (1 if i < extra else 0) for i in range(count)]
