"""``options.on_suspect: "retry"`` in the worker: which segments of a reviewed job are decoded
again and how, their results collected, the better output kept, the warnings annotated.

A job's retries are queued as their own work items, with their own decode options (marked
``retry``, so they never share a batch with ordinary segments): its batch-mates were answered
from the first decode and never change, and a retry waits in the scheduler like any other
batch instead of holding the inference thread. Lives on the event loop, except
:func:`judge`, which decodes and runs in the tokenizer pool.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from mtq.core.contract import DecodeOptions, Job, JobLimits
from mtq.core.markup import SegmentWarning
from mtq.core.vouch import CODES, Checked, check_segment
from mtq.core.vouch.retry import RetryPlan, outcome, retry_is_better, retry_plan
from worker.batching.items import WorkItem
from worker.vouch.review import Bounds, Reviewed, languages_differ


@dataclass(frozen=True)
class Retried:
    """One retry's output (None when the retry itself failed: the first output stays)."""

    output: list[int] | None
    confidence: float = 0.0
    ended: bool = True
    attention: list[list[float]] | None = None


@dataclass
class RetryState:
    """A job's suspect segments while their retries are out."""

    plans: dict[int, RetryPlan]
    first: dict[int, tuple[SegmentWarning, ...]]  # the first output's guard warnings
    first_confidence: dict[int, float]
    results: dict[int, Retried] = field(default_factory=dict)
    verdicts: dict[int, tuple[bool, tuple[str, ...]]] = field(default_factory=dict)

    def take(self, index: int, retried: Retried) -> bool:
        """Record one retry; True when every retry of the job is back."""
        if index in self.plans:
            self.results.setdefault(index, retried)
        return len(self.results) == len(self.plans)


def plan_retries(
    job: Job, reviewed: Reviewed, confidence: Sequence[float], limits: JobLimits
) -> RetryState | None:
    """The retries a reviewed job asks for; None when it asks for none."""
    if job.vouch.on_suspect != "retry" or not reviewed.warnings:
        return None
    found: dict[int, list[SegmentWarning]] = defaultdict(list)
    for warning in reviewed.warnings:
        found[warning.segment].append(warning)
    plans = {}
    for index, warnings in found.items():
        plan = retry_plan(job.options, {w.code for w in warnings},
                          max_beam=limits.max_beam_size, token_limit=limits.max_new_tokens_limit)
        if plan is not None:
            plans[index] = plan
    if not plans:
        return None
    return RetryState(plans, {i: tuple(found[i]) for i in plans},
                      {i: confidence[i] for i in plans})


def retry_work(
    state: RetryState, items: Mapping[int, WorkItem]
) -> list[tuple[DecodeOptions, list[WorkItem]]]:
    """The work to queue: each suspect segment's item, grouped by its retry options."""
    groups: dict[DecodeOptions, list[WorkItem]] = defaultdict(list)
    for index, plan in sorted(state.plans.items()):
        groups[plan.options].append(items[index])
    return list(groups.items())


def judge(
    job: Job, state: RetryState, decode: Callable[[Sequence[Sequence[int]]], list[str]],
    bounds: Bounds,
) -> dict[int, tuple[bool, tuple[str, ...]]]:
    """Per retried segment: whether the retry is kept, and its guard findings (in the pool)."""
    back = {i: r for i, r in state.results.items() if r.output is not None}
    texts = dict(zip(back, decode([r.output or [] for r in back.values()]), strict=True))
    differ = languages_differ(job.source_lang, job.target_lang)
    verdicts: dict[int, tuple[bool, tuple[str, ...]]] = {}
    for index in state.plans:
        retried = back.get(index)
        if retried is None:
            verdicts[index] = (False, ())
            continue
        checked = Checked(job.segments[index], texts[index], retried.confidence, retried.ended)
        codes = tuple(f.code for f in check_segment(
            checked, languages_differ=differ, length_bounds=bounds,
            min_confidence=job.vouch.min_confidence))
        first = [w.code for w in state.first[index]]
        kept = retry_is_better(first, state.first_confidence[index], codes, retried.confidence)
        verdicts[index] = (kept, codes)
    return verdicts


def annotated(state: RetryState, warnings: Sequence[SegmentWarning]) -> list[SegmentWarning]:
    """A retried segment's warnings are its first output's findings, each saying how it was
    retried and what came out; every other warning is kept as it is."""
    result = [w for w in warnings if w.segment not in state.plans or w.code not in CODES]
    for index, plan in state.plans.items():
        kept, codes = state.verdicts.get(index, (False, ()))
        if state.results.get(index, Retried(None)).output is None:
            note = f"; retried ({plan.how}): the retry failed, the first output was kept"
        else:
            note = outcome(plan.how, kept, codes)
        result.extend(SegmentWarning(index, w.code, w.message + note) for w in state.first[index])
    return sorted(result, key=lambda w: w.segment)

