"""The cache benchmark's workload: jobs that repeat segments the way localization content does.

About ``repeat_share`` of the segments recur (Zipf-distributed over a set of recurring
sentences, as UI strings and boilerplate recur), within jobs and across them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from mtq.tools.tiny_corpus import generated_sentences

JOB_SIZES = (1, 2, 3, 5, 10, 20, 40)
JOB_SIZE_WEIGHTS = (30, 20, 15, 12, 10, 8, 5)


@dataclass(frozen=True)
class RepetitiveWorkload:
    jobs: tuple[tuple[str, ...], ...]

    @property
    def segments(self) -> int:
        return sum(len(job) for job in self.jobs)

    @property
    def distinct(self) -> int:
        return len({text for job in self.jobs for text in job})

    @property
    def repeat_share(self) -> float:
        """Share of segments whose text occurred before (in this job or an earlier one)."""
        return 1 - self.distinct / self.segments

    def repeats(self) -> tuple[int, int]:
        """(repeats of a text seen earlier in the same job, repeats seen only in earlier jobs)."""
        seen: set[str] = set()
        within = across = 0
        for job in self.jobs:
            here: set[str] = set()
            for text in job:
                if text in here:
                    within += 1
                elif text in seen:
                    across += 1
                here.add(text)
            seen |= here
        return within, across

    def describe(self) -> str:
        within, across = self.repeats()
        return (
            f"{len(self.jobs)} jobs, {self.segments} segments, {self.distinct} distinct: "
            f"{self.repeat_share:.0%} repeated ({within} within a job, {across} across jobs)"
        )


def repetitive_workload(
    segments: int, repeat_share: float = 0.4, *, zipf_s: float = 1.1, seed: int = 13
) -> RepetitiveWorkload:
    """``segments`` sentences in jobs, about ``repeat_share`` of them repeats.

    Each segment is, with probability ``q``, drawn from a set of recurring sentences with Zipf
    popularity (rank ``r`` weighs ``1 / r**zipf_s``), otherwise a sentence not used before;
    ``q`` is solved for so that the share of repeated segments is ``repeat_share``.
    """
    if not 0 <= repeat_share < 1:
        raise ValueError("repeat_share must be in [0, 1)")
    low, high = 0.0, 1.0
    best = _generate(segments, 0.0, zipf_s, seed)
    for _ in range(25):
        q = (low + high) / 2
        candidate = _generate(segments, q, zipf_s, seed)
        if abs(candidate.repeat_share - repeat_share) < abs(best.repeat_share - repeat_share):
            best = candidate
        if candidate.repeat_share < repeat_share:
            low = q
        else:
            high = q
    return best


def _generate(segments: int, q: float, zipf_s: float, seed: int) -> RepetitiveWorkload:
    rng = random.Random(seed)
    pool = list(dict.fromkeys(generated_sentences(2 * segments + 64, seed)))
    recurring_count = max(8, segments // 8)
    recurring, fresh = pool[:recurring_count], iter(pool[recurring_count:])
    weights = [1 / (rank + 1) ** zipf_s for rank in range(recurring_count)]
    texts = [
        rng.choices(recurring, weights)[0] if rng.random() < q else next(fresh)
        for _ in range(segments)
    ]
    jobs, start = [], 0
    while start < len(texts):
        size = rng.choices(JOB_SIZES, JOB_SIZE_WEIGHTS)[0]
        jobs.append(tuple(texts[start : start + size]))
        start += size
    return RepetitiveWorkload(tuple(jobs))
